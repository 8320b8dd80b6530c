"""A real Chromium (Debian's ``chromium``, driven by Playwright) against the app served on a
loopback port, on the test's migrated database.

Playwright cannot download its own browser here, so it launches the system one. Where no
Chromium is installed the tests are skipped with a message saying how to install it; where
axe-core is missing they say how to install that.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from survey.extensions import db
from survey.models import Answer, Item, Response, RoundState
from tests.factories import make_area, make_desk, make_round, make_unit

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 1,
}


def chromium_path() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip(
            "browser tests need Chromium: install it with `apt-get install chromium` "
            "(or set CHROMIUM=/path/to/chromium); .ci/run does this"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need Playwright: pip install -r .ci/requirements-dev.txt")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.skip(
            "accessibility checks need axe-core: npm install --prefix .ci/node "
            "(the version is pinned in .ci/node/package.json); .ci/run does this"
        )
    return AXE.read_text(encoding="utf-8")


@dataclass(frozen=True)
class World:
    """A demo-like province: a one-stop desk with two service areas, a commune desk with one,
    and a unit whose round is still a draft (its desk shows the closed page)."""

    base: str
    two_areas: str
    one_area: str
    closed: str
    round_id: int

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with app.app_context():
        civil = make_area("HT", "Hộ tịch", "Civil status")
        land = make_area("DD", "Đất đai", "Land")
        centre = make_unit("TTHCC", "Trung tâm Phục vụ hành chính công tỉnh", [civil, land])
        commune = make_unit("XPL", "UBND xã Phú Lộc", [civil])
        quiet = make_unit("XTT", "UBND xã Tân Thành", [civil])
        two, one, closed = make_desk(centre), make_desk(commune), make_desk(quiet)
        round_ = make_round([centre, commune])
        make_round([quiet], state=RoundState.DRAFT, name="Đợt sau")
        db.session.commit()
        tokens = (two.token, one.token, closed.token, round_.id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield World(f"http://127.0.0.1:{server.server_port}", *tokens)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A fresh phone: its own cookies and storage, a 360 x 740 touch screen."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    yield context
    context.close()


def stored_responses(app: Flask) -> list[tuple[str, str, str | None, int]]:
    """(idempotency key, status, exclusion reason, number of answers) per stored response."""
    with app.app_context():
        rows = [
            (r.idempotency_key, r.status, r.exclusion_reason, len(r.answers))
            for r in db.session.scalars(select(Response).order_by(Response.id))
        ]
        db.session.remove()
        return rows


def answers_of(app: Flask, key: str) -> dict[str, list[int | str]]:
    """The stored answers of one response, by item code ("na" for not applicable)."""
    with app.app_context():
        rows = db.session.execute(
            select(Item.code, Answer.value, Answer.text, Answer.not_applicable)
            .join(Answer, Answer.item_id == Item.id)
            .join(Response, Response.id == Answer.response_id)
            .where(Response.idempotency_key == key)
        ).all()
        db.session.remove()
    out: dict[str, list[int | str]] = {}
    for code, value, text, not_applicable in rows:
        out.setdefault(code, []).append("na" if not_applicable else text or value)
    return out
