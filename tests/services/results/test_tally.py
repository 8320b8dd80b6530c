"""The maintained statistics of a round (``survey.services.results.tally``).

Every table built from them is checked against ``reference_table``: ``analysis.index_table``
run on the analyst's export of the same round, all responses at once (test_indices.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pandas as pd
import pytest
from flask import Flask
from sqlalchemy import insert, select, update

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import (
    Answer,
    Desk,
    Response,
    Role,
    Round,
    RoundStatistics,
    Unit,
    utcnow,
)
from survey.services.accounts.users import create_user
from survey.services.demo import simulate_responses
from survey.services.exports import microdata as exports
from survey.services.responses.counting import design_frame
from survey.services.responses.exclusions import exclude_responses, restore_responses
from survey.services.results import indices, pages, tally
from tests.services.results.test_indices import _demo_round, _same, reference_table


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many responses each read of the answers took in, in order."""
    seen: list[int] = []
    original = tally.Reader.read

    def counting(self: tally.Reader, *args: object, **kwargs: object) -> object:
        part = original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(len(part.ids))
        return part

    monkeypatch.setattr(tally.Reader, "read", counting)
    return seen


def _overall_n(round_: Round) -> int:
    return indices.round_index(round_).find(Level.PROVINCE, kind=IndexKind.OVERALL).n


def test_new_responses_are_read_alone_and_the_table_stays_right(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(400))
        assert round_ is not None
        reads = _reads(monkeypatch)
        assert _overall_n(round_) == 400
        assert reads == [400]  # the first page reads the round once
        simulate_responses(round_, 7, now=utcnow(), seed=11)
        db.session.commit()
        table = indices.round_index(round_)
        assert reads == [400, 7]  # then only the seven new responses
        assert table.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == 407
        _same(table, reference_table(round_))
        stored = db.session.get(RoundStatistics, round_.id)
        assert stored is not None  # the first computation is kept in the database


def test_a_server_that_starts_reads_the_stored_statistics_not_the_answers(
    app: Flask, app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_id = _demo_round(300)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        first = indices.round_index(round_)
    second = app_factory()  # another process: nothing in memory
    reads = _reads(monkeypatch)
    with second.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        table = indices.round_index(round_)
        assert reads == []
        _same(table, first)


def test_an_exclusion_and_a_restore_recompute_only_the_cells_they_touch(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(500))
        assert round_ is not None
        assert _overall_n(round_) == 500
        admin = create_user(
            username="admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=utcnow()
        )
        desk_id, unit_id, area_id = db.session.execute(
            select(Response.desk_id, Response.unit_id, Response.service_area_id)
            .where(Response.round_id == round_.id)
            .group_by(Response.desk_id, Response.unit_id, Response.service_area_id)
            .having(db.func.count(Response.id) >= 5)
            .order_by(Response.desk_id, Response.unit_id, Response.service_area_id)
            .limit(1)
        ).one()
        in_cell = db.session.scalar(
            select(db.func.count(Response.id)).where(
                Response.round_id == round_.id,
                Response.unit_id == unit_id,
                Response.service_area_id == area_id,
            )
        )
        chosen = db.session.scalars(
            select(Response.id)
            .where(
                Response.round_id == round_.id,
                Response.desk_id == desk_id,
                Response.unit_id == unit_id,
                Response.service_area_id == area_id,
            )
            .limit(5)
        ).all()
        desk = db.session.get(Desk, desk_id)
        assert desk is not None
        exclude_responses(
            round_, desk, reason="thử", now=utcnow(), actor=admin, response_ids=chosen
        )
        db.session.commit()
        reads = _reads(monkeypatch)
        table = indices.round_index(round_)
        assert table.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == 495
        assert sum(reads) <= in_cell  # the cells of that desk, not the round
        _same(table, reference_table(round_))
        restore_responses(
            round_, desk, reason="nhầm", now=utcnow(), actor=admin, response_ids=chosen
        )
        db.session.commit()
        assert _overall_n(round_) == 500
        _same(indices.round_index(round_), reference_table(round_))


def test_an_answer_changed_by_hand_in_the_database_is_noticed(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(200))
        assert round_ is not None
        before = indices.round_index(round_)
        answer = db.session.scalars(
            select(Answer).join(Response).where(Answer.value == 1).limit(1)
        ).one()
        db.session.execute(update(Answer).where(Answer.id == answer.id).values(value=5))
        db.session.commit()
        after = indices.round_index(round_)
        assert after is not before
        _same(after, reference_table(round_))


def _copy_response(source_id: int, new_id: int) -> None:
    """A copy of a stored response under a chosen id: a submission that committed after
    responses with higher ids had already been counted."""
    row = db.session.execute(select(Response.__table__).where(Response.id == source_id)).one()
    values = dict(row._mapping) | {"id": new_id, "idempotency_key": uuid.uuid4().hex}
    db.session.execute(insert(Response.__table__).values(**values))
    for answer in db.session.execute(
        select(Answer.__table__).where(Answer.response_id == source_id)
    ).all():
        copied = dict(answer._mapping)
        copied.pop("id")
        db.session.execute(insert(Answer.__table__).values(**copied | {"response_id": new_id}))


def test_a_submission_that_commits_late_is_folded_in_with_the_next_one(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(100))
        assert round_ is not None
        newest = tally.newest_response_id(round_)
        _copy_response(newest, newest + 10)
        db.session.commit()
        assert _overall_n(round_) == 101
        _copy_response(newest, newest + 5)  # committed after newest + 10 was counted
        db.session.commit()
        _copy_response(newest, newest + 11)
        db.session.commit()
        table = indices.round_index(round_)
        assert table.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == 103
        _same(table, reference_table(round_))


def test_reconcile_agrees_after_use_and_finds_a_tampered_store(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(300))
        assert round_ is not None
        indices.round_index(round_)
        simulate_responses(round_, 20, now=utcnow(), seed=5)
        db.session.commit()
        indices.round_index(round_)
        result = tally.reconcile(round_, design_frame(round_, with_counts=False))
        db.session.commit()
        assert result.stored and result.agrees and result.responses == 320
        # Someone edits the stored statistics: the next reconciliation says which cells.
        stored = tally._stored(
            round_,
            tally.labels_key(design_frame(round_, with_counts=False)),
            indices.template_index(round_.template_version).spec.codes,
        )
        assert stored is not None and stored.stats is not None
        stats = stored.stats
        stats.sums[0, 0] += 1
        cell = (str(stats.unit[0]), str(stats.area[0]))
        tampered = stored.again(stats=stats)
        db.session.execute(
            update(RoundStatistics)
            .where(RoundStatistics.round_id == round_.id)
            .values(payload=tally.encode(tampered))
        )
        db.session.commit()
        result = tally.reconcile(round_, design_frame(round_, with_counts=False))
        assert not result.agrees
        assert result.differing_cells == (cell,)
        assert result.max_difference == 1.0


def test_priorities_equal_the_weighted_shares_computed_from_the_export(app: Flask) -> None:
    """Each option's share: sum of weights of those who chose it over the sum of weights of
    those who chose any option, computed here from the analyst's export (weight column
    N_cell / n_cell, one 0/1 column per option)."""
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(600))
        assert round_ is not None
        indices.round_index(round_)
        simulate_responses(round_, 25, now=utcnow(), seed=3)  # folded in, not read again
        db.session.commit()
        shown = pages.priorities(pages.round_results(round_, None))
        columns = [v for v in exports.variables(round_)]
        frame = pd.DataFrame(list(exports.rows(round_)), columns=[v.name for v in columns])
        options = {v.option: v.name for v in columns if v.option is not None}
        assert options and shown
        chose = frame[list(options.values())].fillna(0).astype(float)
        answered = chose.sum(axis=1) > 0
        weight = frame["weight"].astype(float)
        for priority in shown:
            picked = chose[options[priority.value]] > 0
            assert priority.chosen == int(picked.sum())
            expected = 100 * weight[picked].sum() / weight[answered].sum()
            assert priority.share == pytest.approx(expected, rel=1e-12)


def test_a_round_answered_for_the_first_time_after_an_empty_view(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(0))
        assert round_ is not None
        assert len(indices.round_index(round_)) == 0  # nobody has answered: an empty table
        simulate_responses(round_, 40, now=utcnow(), seed=8)
        db.session.commit()
        table = indices.round_index(round_)
        assert table.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == 40
        _same(table, reference_table(round_))


def test_a_unit_code_renamed_makes_the_stored_statistics_unusable_not_wrong(
    app: Flask, app_factory: Callable[..., Flask]
) -> None:
    with app.app_context():
        round_id = _demo_round(150)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        indices.round_index(round_)
        unit = db.session.scalars(select(Unit).order_by(Unit.id)).first()
        assert unit is not None
        unit.code = renamed = unit.code + "X"
        db.session.commit()
    with app_factory().app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        table = indices.round_index(round_)
        assert renamed in {row.unit for row in table.rows(level=Level.UNIT)}
        _same(table, reference_table(round_))
