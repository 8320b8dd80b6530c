"""A published round's numbers are frozen, and re-derived from the stored responses."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select, update

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import (
    DossierCount,
    Response,
    ResponseStatus,
    Round,
    RoundSnapshot,
    RoundState,
    Unit,
    utcnow,
)
from survey.services.results import indices, pages, snapshots, tally
from survey.services.rounds.lifecycle import transition_round
from tests.services.results.test_indices import _demo_round, _same, reference_table


@pytest.fixture
def run_cli(app: Flask) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        return app.test_cli_runner().invoke(args=list(args))

    return run


def _publish(round_: Round) -> None:
    transition_round(round_, RoundState.CLOSED, now=utcnow())
    transition_round(round_, RoundState.PUBLISHED, now=utcnow())
    db.session.commit()


def _overall(round_: Round) -> tuple[float, int]:
    row = indices.round_index(round_).find(Level.PROVINCE, kind=IndexKind.OVERALL)
    return row.estimate, row.n


def test_publishing_freezes_the_numbers_shown_before_it(app: Flask) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(400))
        assert round_ is not None
        before = indices.round_index(round_)
        units_before = [(s.code, s.row.estimate) for s in pages.round_results(round_, None).units()]
        _publish(round_)
        snapshot = db.session.scalars(select(RoundSnapshot)).one()
        assert snapshot.responses == 400
        assert snapshot.numbers_hash == hashlib.sha256(snapshot.numbers).hexdigest()
        after = indices.round_index(round_)
        _same(after, before)
        assert [(s.code, s.row.estimate) for s in pages.round_results(round_, None).units()] == (
            units_before
        )


def test_later_changes_do_not_move_a_published_number_and_rederive_finds_them(
    app: Flask, run_cli: Callable[..., Result]
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(300))
        assert round_ is not None
        _publish(round_)
        published = _overall(round_)
        assert run_cli("results", "rederive", str(round_.id)).exit_code == 0
        # A dossier count imported late, a unit moved, a response excluded by hand.
        db.session.execute(update(DossierCount).values(dossiers=DossierCount.dossiers * 3 + 1))
        child = db.session.scalars(select(Unit).where(Unit.parent_id.is_not(None))).first()
        assert child is not None
        child.parent_id = None
        some = db.session.scalars(select(Response.id).limit(30)).all()
        db.session.execute(
            update(Response)
            .where(Response.id.in_(some))
            .values(status=ResponseStatus.EXCLUDED.value, exclusion_reason="sửa tay")
        )
        db.session.commit()
        assert _overall(round_) == published
        public = pages.round_results(round_, None)
        assert public.province() is not None
        result = run_cli("results", "rederive", str(round_.id))
        assert result.exit_code == 1
        assert "300 responses counted when published, 270 now (NOT the same responses)" in (
            result.output
        )
        assert "province" in result.output and "estimate published" in result.output


def test_rederive_agrees_on_an_untouched_round_from_the_answers_alone(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(250))
        assert round_ is not None
        _publish(round_)
        # Whatever was stored or cached, the re-derivation reads every answer again.
        db.session.execute(update(Round).values(stats_generation=Round.stats_generation))
        result = snapshots.rederive(round_)
        assert result.agrees and result.rows > 0 and result.responses_now == 250
        _same(indices.round_index(round_), reference_table(round_))


def test_a_server_that_starts_shows_a_published_round_without_reading_answers(
    app: Flask, app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_id = _demo_round(200)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        _publish(round_)
        first = indices.round_index(round_)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the answers were read")

    monkeypatch.setattr(tally.Reader, "read", refuse)
    with app_factory().app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        _same(indices.round_index(round_), first)
        assert pages.priorities(pages.round_results(round_, None))


def test_reconcile_command_reports_agreement_and_refuses_bad_arguments(
    app: Flask, run_cli: Callable[..., Result]
) -> None:
    with app.app_context():
        round_ = db.session.get(Round, _demo_round(150))
        assert round_ is not None
        indices.round_index(round_)
        result = run_cli("results", "reconcile", str(round_.id))
        assert result.exit_code == 0, result.output
        assert "150 counted responses" in result.output and "agree" in result.output
        assert run_cli("results", "reconcile").exit_code == 2  # neither an id nor --all
        missing = run_cli("results", "reconcile", "999")
        assert missing.exit_code == 1 and "no round that has opened with id 999" in missing.output
        not_published = run_cli("results", "rederive", str(round_.id))
        assert not_published.exit_code == 1
        assert f"no published round with id {round_.id}" in not_published.output
