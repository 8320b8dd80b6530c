"""Issue 21, point 6: pages viewed while submissions, exclusions and restores arrive.

Threads stand in for app workers, each with its own application (own caches, own
connections) on the test's database: two add responses, one excludes and restores, two read
the result page's table over and over. Every table read must be one state of the round (its
weights, counts and priorities from the same statistics); afterwards the maintained
statistics, a published snapshot and a recomputation from every answer must agree, and equal
``analysis.index_table`` on the export.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from analysis.satisfaction import IndexKind, Level
from survey.extensions import db
from survey.models import (
    Desk,
    Response,
    ResponseStatus,
    Role,
    Round,
    RoundState,
    User,
    utcnow,
)
from survey.services.accounts.users import create_user
from survey.services.demo import simulate_responses
from survey.services.responses.counting import design_frame
from survey.services.responses.exclusions import exclude_responses, restore_responses
from survey.services.results import pages, snapshots, tally
from survey.services.rounds.lifecycle import transition_round
from tests.services.results.test_indices import _demo_round, _same, reference_table

ROUNDS_OF_WORK = 6


def _retrying(work: Callable[[], None]) -> None:
    """SQLite lets one writer at a time: a writer that waits too long tries again."""
    for attempt in range(20):
        try:
            work()
            return
        except Exception:  # a lock timeout (SQLite) or a serialisation failure
            db.session.rollback()
            if attempt == 19:
                raise
            time.sleep(0.05)


def test_views_during_submissions_exclusions_and_restores_stay_consistent(
    app: Flask, app_factory: Callable[..., Flask]
) -> None:
    with app.app_context():
        round_id = _demo_round(300)
        admin_id = create_user(
            username="admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=utcnow()
        ).id
        db.session.commit()
    servers = [app_factory() for _ in range(5)]
    errors: list[BaseException] = []
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def submitter(server: Flask, seed: int) -> None:
        with server.app_context():
            for step in range(ROUNDS_OF_WORK):
                round_ = db.session.get(Round, round_id)

                def add(round_: Round | None = round_, step: int = step) -> None:
                    assert round_ is not None
                    simulate_responses(round_, 4, now=utcnow(), seed=seed * 100 + step)
                    db.session.commit()

                _retrying(add)
                time.sleep(0.01)

    def excluder(server: Flask) -> None:
        rng = random.Random(5)
        with server.app_context():
            for _ in range(ROUNDS_OF_WORK):

                def move() -> None:
                    round_ = db.session.get(Round, round_id)
                    admin = db.session.get(User, admin_id)
                    assert round_ is not None and admin is not None
                    desk_id = rng.choice(db.session.scalars(select(Desk.id)).all())
                    desk = db.session.get(Desk, desk_id)
                    assert desk is not None
                    ids = db.session.scalars(
                        select(Response.id).where(
                            Response.round_id == round_id, Response.desk_id == desk_id
                        )
                    ).all()
                    chosen = rng.sample(list(ids), min(3, len(ids)))
                    if not chosen:
                        return
                    exclude_responses(
                        round_, desk, reason="thử", now=utcnow(), actor=admin, response_ids=chosen
                    )
                    db.session.commit()
                    if rng.random() < 0.5:
                        restore_responses(
                            round_,
                            desk,
                            reason="nhầm",
                            now=utcnow(),
                            actor=admin,
                            response_ids=chosen[:1],
                        )
                        db.session.commit()

                _retrying(move)

    def viewer(server: Flask) -> None:
        with server.app_context():
            while not done.is_set():

                def look() -> None:
                    round_ = db.session.get(Round, round_id)
                    assert round_ is not None
                    results = pages.round_results(round_, None)
                    assert results.frame is not None
                    province = results.table.find(Level.PROVINCE, kind=IndexKind.OVERALL)
                    cells = sum(n for n in results.frame.counts.values())
                    # One state: the weights' counts are the table's responses.
                    assert province.n == cells, (province.n, cells)
                    shares = pages.priorities(results)
                    assert shares and all(0 < p.share <= 100 for p in shares)
                    seen.append((province.n, cells))
                    db.session.rollback()

                _retrying(look)

    def guard(work: Callable[..., None], *args: object) -> Callable[[], None]:
        def run() -> None:
            try:
                work(*args)
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        return run

    writers = [
        threading.Thread(target=guard(submitter, servers[0], 1)),
        threading.Thread(target=guard(submitter, servers[1], 2)),
        threading.Thread(target=guard(excluder, servers[2])),
    ]
    readers = [threading.Thread(target=guard(viewer, s)) for s in servers[3:]]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    done.set()
    for thread in readers:
        thread.join(timeout=300)
    assert not errors, errors
    assert len(seen) >= 4

    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        counted = db.session.scalar(
            select(func.count(Response.id)).where(
                Response.round_id == round_id, Response.status == ResponseStatus.COUNTED.value
            )
        )
        results = pages.round_results(round_, None)
        assert results.table.find(Level.PROVINCE, kind=IndexKind.OVERALL).n == counted
        _same(results.table, reference_table(round_))
        check = tally.reconcile(round_, design_frame(round_, with_counts=False))
        db.session.commit()
        assert check.stored and check.agrees, check.differing_cells
        transition_round(round_, RoundState.CLOSED, now=utcnow())
        transition_round(round_, RoundState.PUBLISHED, now=utcnow())
        db.session.commit()
        assert snapshots.rederive(round_).agrees
