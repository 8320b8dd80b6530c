"""Result tables made before the server takes requests (``warmup.warm_results``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from survey.extensions import db
from survey.models import Round, utcnow
from survey.services.demo import demo_accounts
from survey.services.results import indices, tally
from survey.services.results.warmup import warm_results
from tests.admin.conftest import login
from tests.services.results.test_indices import _demo_round


def _refuse_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the answers were read")

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
