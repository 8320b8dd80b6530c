"""Result tables made before a server takes requests (issue 21, point 3).

gunicorn imports the application once, in its master process (``preload_app``), and forks the
workers from it. ``warm_results`` runs there, before the first fork (``when_ready`` in
``deploy/gunicorn.conf.py``): for the rounds people read, newest first, it reads their stored
statistics or published snapshot and makes their tables, and compiles every page template, so
that every worker starts with them in memory and the first view after a start is a warm one;
it then opens the newest round's result pages once in each language (``_warm_pages``). In each
worker, once forked, ``warm_worker`` opens the database connections a page holds.
It never reads a round's answers (but the newest response's, once, to rehearse what a page does
after a new response: ``tally.rehearse_fold``): a round without stored statistics is left to
its first view.
It stops after ``budget_seconds``, and closes its database connections, which must not be
shared with the forked workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_datetime
from babel.numbers import format_decimal
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from analysis.satisfaction import Level
from survey.extensions import db
from survey.models import Response, Role, Round, RoundState, RoundStatistics, User
from survey.services.results.indices import round_index
from survey.services.results.pages import priorities, round_results
from survey.services.results.snapshots import published_snapshot
from survey.services.results.tally import STORE_BEHIND, rehearse_fold


@dataclass(frozen=True)
class WarmUp:
    rounds: int
    skipped: int
    templates: int
    pages: int
    seconds: float


def warm_results(app: Flask, *, budget_seconds: float = 20.0) -> WarmUp:
    started = time.perf_counter()
    warmed = skipped = pages = 0
    compiled = 0
    with app.app_context():
        try:
            # Every page template (the result pages include others: the round pages' macros,
            # the response-rate table), about 1 s once here instead of 50 ms on each worker's
            # first view of each page.
            for name in app.jinja_env.list_templates(extensions=["html"]):
                app.jinja_env.get_template(name)
                compiled += 1
            # Babel's locale data, read from disk on first use (10 ms a language).
            for language in app.config["LANGUAGES"]:
                format_decimal(1234.5, locale=language)
                format_datetime(datetime(2026, 1, 1), locale=language)
            rounds = db.session.scalars(
                select(Round)
                .where(Round.state != RoundState.DRAFT.value)
                .order_by(Round.opens_at.desc(), Round.id.desc())
            ).all()
            for round_ in rounds:
                if time.perf_counter() - started > budget_seconds:
                    skipped += 1
                    continue
                if not _cheap(round_):
                    skipped += 1
                    continue
                results = round_results(round_, None)
                priorities(results)
                round_index(round_, (Level.DESK,), frame=results.frame)
                if not warmed and results.frame is not None:
                    rehearse_fold(round_, results.frame)
                db.session.rollback()
                if not warmed and time.perf_counter() - started < budget_seconds:
                    pages = _warm_pages(app, round_)
                warmed += 1
        finally:
            db.session.remove()
            db.engine.dispose()
    seconds = time.perf_counter() - started
    app.logger.info(
        "results warmed: %d rounds, %d left to their first view, %d templates, %d pages, %.2f s",
        warmed,
        skipped,
        compiled,
        pages,
        seconds,
    )
    return WarmUp(warmed, skipped, compiled, pages, seconds)


# The result pages opened once here, in each language, for the newest round.
PAGES = (
    "/admin/rounds/{round}/results",
    "/admin/rounds/{round}/results/units",
    "/admin/rounds/{round}/results/units/{unit}",
    "/admin/rounds/{round}/results/elements",
    "/admin/rounds/{round}/results/areas",
    "/admin/rounds/{round}/report",
)


def _warm_pages(
    app: Flask,
    round_: Round,
    pages: tuple[str, ...] = PAGES,
    languages: tuple[str, ...] | None = None,
) -> int:
    """Open the result pages of ``round_`` once in each language, as its first administrator,
    through the whole application: what only a real view does the first time in a process
    (compiling its SQL statements, loading the translations, drawing the report's charts) is
    then done once here instead of in every worker, whose first view took 40 ms longer than
    the next. Nothing is written."""
    admin = db.session.scalar(
        select(User)
        .where(User.role == Role.ADMIN.value, User.is_active.is_(True))
        .order_by(User.id)
        .limit(1)
    )
    unit = next((s.unit_id for s in round_.scope), None)
    if admin is None or unit is None:
        return 0
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = admin.get_id()
        session["_fresh"] = True
    opened = 0
    for language in languages or app.config["LANGUAGES"]:
        for page in pages:
            path = page.format(round=round_.id, unit=unit)
            answer = client.get(path, query_string={"lang": language})
            if answer.status_code != 200:
                app.logger.warning("warming %s: %s", path, answer.status_code)
                continue
            opened += 1
    return opened


def warm_worker(app: Flask) -> int:
    """In a worker just forked (``post_fork`` in ``deploy/gunicorn.conf.py``), before its first
    request: the two database connections a result page holds (its session's and its
    snapshot's, 7 ms each to open on PostgreSQL), and the newest round's overview once, which
    folds in what arrived since the master made its tables and touches what the fork shares
    with the master. A worker is replaced every few thousand requests: its first view of a
    result page then costs what a later one does. Returns the pages opened."""
    with app.app_context():
        try:
            with db.engine.connect() as first, db.engine.connect() as second:
                first.exec_driver_sql("SELECT 1")
                second.exec_driver_sql("SELECT 1")
            newest = db.session.scalars(
                select(Round)
                .where(Round.state != RoundState.DRAFT.value)
                .order_by(Round.opens_at.desc(), Round.id.desc())
                .limit(1)
            ).first()
            if newest is None or not _cheap(newest):
                return 0
            return _warm_pages(app, newest, PAGES[:1], (str(app.config["BABEL_DEFAULT_LOCALE"]),))
        except SQLAlchemyError as exc:  # the database is not there yet: the first view waits
            app.logger.warning("worker warm-up: no database (%s)", exc)
            return 0
        finally:
            db.session.remove()


def _cheap(round_: Round) -> bool:
    """Whether the round's tables come without reading most of its answers: a published
    snapshot, or stored statistics at most a few thousand responses behind."""
    if published_snapshot(round_) is not None:
        return True
    through = db.session.scalar(
        select(RoundStatistics.through_id).where(RoundStatistics.round_id == round_.id)
    )
    if through is None:
        return False
    behind = db.session.scalar(
        select(func.count(Response.id)).where(Response.round_id == round_.id, Response.id > through)
    )
    return int(behind or 0) <= 10 * STORE_BEHIND
