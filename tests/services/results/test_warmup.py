"""Result tables made before the server takes requests (``warmup.warm_results``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEvent, Round, utcnow
from survey.services.demo import demo_accounts
from survey.services.results import indices, tally
from survey.services.results.warmup import PAGES, warm_results, warm_worker
from tests.admin.conftest import login
from tests.services.results.test_indices import _demo_round


def _refuse_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the answers of more than one response fails the test (the warm-up reads the
    newest response's once, to rehearse a fold)."""
    real = tally.Reader.read

    def refuse(self: tally.Reader, *args: object, **kwargs: object) -> object:
        part = real(self, *args, **kwargs)  # type: ignore[arg-type]
        if len(part.ids) > 1:
            raise AssertionError("the answers were read")
        return part

    monkeypatch.setattr(tally.Reader, "read", refuse)


def test_a_started_server_shows_results_without_reading_answers(
    app: Flask, app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        round_id = _demo_round(300)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        indices.round_index(round_)  # an earlier server stored the statistics
    server = app_factory()
    _refuse_reading(monkeypatch)
    done = warm_results(server)
    assert (done.rounds, done.skipped) == (1, 0)
    assert done.templates > 5
    client = server.test_client()
    with server.app_context():
        demo_accounts("ao-dai-xanh-2026", now=utcnow())
        db.session.commit()
    login(client, "admin")
    for page in ("", "/units", "/elements", "/areas"):
        assert client.get(f"/admin/rounds/{round_id}/results{page}").status_code == 200


def test_a_round_never_computed_is_left_to_its_first_view(
    app: Flask, app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        _demo_round(100)
    _refuse_reading(monkeypatch)
    done = warm_results(app_factory())
    assert (done.rounds, done.skipped) == (0, 1)


def test_the_master_opens_the_result_pages_and_a_worker_its_overview(
    app: Flask, app_factory: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master opens the newest round's result pages in both languages (as its first
    administrator, writing nothing); a worker just forked opens the overview once, from the
    stored statistics: neither reads the answers, and nobody is signed in by it."""
    with app.app_context():
        round_id = _demo_round(200)
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        indices.round_index(round_)
        demo_accounts("ao-dai-xanh-2026", now=utcnow())
        db.session.commit()
        audit_rows = db.session.scalar(select(func.count(AuditEvent.id)))
    _refuse_reading(monkeypatch)
    server = app_factory()
    done = warm_results(server)
    assert done.pages == 2 * len(PAGES)  # every page in Vietnamese and in English
    worker = app_factory()
    assert warm_worker(worker) == 1
    with worker.app_context():
        # the overview's table is in the worker's memory; nothing was written
        assert worker.extensions["hailong_round_index"]
        assert db.session.scalar(select(func.count(AuditEvent.id))) == audit_rows
    # The warm-up's session is its own: a visitor is not signed in by it.
    answer = worker.test_client().get(f"/admin/rounds/{round_id}/results")
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_a_worker_without_a_database_still_starts(app_factory: Callable[..., Flask]) -> None:
    worker = app_factory(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert warm_worker(worker) == 0
