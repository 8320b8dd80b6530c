"""Result tables made before a server takes requests (issue 21, point 3).

gunicorn imports the application once, in its master process (``preload_app``), and forks the
workers from it. ``warm_results`` runs there, before the first fork (``when_ready`` in
``deploy/gunicorn.conf.py``): for the rounds people read, newest first, it reads their stored
statistics or published snapshot and makes their tables, and compiles every page template, so
that every worker starts with them in memory and the first view after a start is a warm one;
the report's charts are drawn too.
It never reads a round's answers: a round without stored statistics is left to its first view.
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

from analysis.satisfaction import Level
from survey.extensions import db
from survey.models import Response, Round, RoundState, RoundStatistics
from survey.services.results.figures import report_charts
from survey.services.results.indices import LEVELS, round_index
from survey.services.results.pages import priorities, round_results
from survey.services.results.snapshots import published_snapshot
from survey.services.results.tally import STORE_BEHIND


@dataclass(frozen=True)
class WarmUp:
    rounds: int
    skipped: int
    templates: int
    seconds: float


def warm_results(app: Flask, *, budget_seconds: float = 20.0) -> WarmUp:
    started = time.perf_counter()
    warmed = skipped = 0
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
                round_index(round_, (*LEVELS, Level.DESK), frame=results.frame)
                # The report's charts, in the default language (drawing them takes about
                # a second whatever the round's size).
                with app.test_request_context("/"):
                    report_charts(results, results.units("index"), None)
                db.session.rollback()
                warmed += 1
        finally:
            db.session.remove()
            db.engine.dispose()
    seconds = time.perf_counter() - started
    app.logger.info(
        "results warmed: %d rounds, %d left to their first view, %d templates, %.2f s",
        warmed,
        skipped,
        compiled,
        seconds,
    )
    return WarmUp(warmed, skipped, compiled, seconds)


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
