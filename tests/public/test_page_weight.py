"""Every citizen page is light: at most 30 KB gzip-compressed, counting the page and the
stylesheet and script it loads, all served by the application itself (no CDN). Static files
named by their content may be kept by the phone for a year."""

from __future__ import annotations

import gzip
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from survey.extensions import db
from survey.models import RoundState
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.public.test_answer import hidden

BUDGET = 30 * 1024
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


@pytest.fixture
def tokens(app: Flask) -> dict[str, str]:
    with app.app_context():
        civil, land = make_area("HT", "Hộ tịch", "Civil status"), make_area("DD", "Đất đai", "Land")
        centre = make_unit("TT", "Trung tâm Phục vụ hành chính công tỉnh", [civil, land])
        quiet = make_unit("XTT", "UBND xã Tân Thành", [civil])
        two, closed = make_desk(centre), make_desk(quiet)
        make_round([centre])
        make_round([quiet], state=RoundState.DRAFT)
        db.session.commit()
        return {"two": two.token, "closed": closed.token}


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))  # nginx's usual gzip_comp_level is lower


def weight(client: FlaskClient, html: bytes) -> tuple[int, list[str]]:
    """Compressed bytes of the page and of every stylesheet and script it links."""
    assets = ASSET.findall(html.decode())
    total = gzip_size(html)
    for url in assets:
        assert url.startswith("/static/"), f"{url} is not served by the application"
        with client.get(url) as asset:  # a file response: closed, or it leaks its handle
            assert asset.status_code == 200, url
            total += gzip_size(asset.data)
    return total, assets


def citizen_pages(client: FlaskClient, tokens: dict[str, str]) -> dict[str, tuple[int, bytes]]:
    two, closed = tokens["two"], tokens["closed"]
    pages = {
        "landing": client.get("/"),
        "area choice": client.get(f"/r/{two}"),
        "questionnaire (en)": client.get(f"/r/{two}?area=HT&lang=en"),
        "questionnaire": client.get(f"/r/{two}?area=HT&lang=vi"),
    }
    form = pages["questionnaire"].get_data(as_text=True)
    fields = ("csrf_token", "idempotency_key", "area", "started")
    pages["questionnaire with errors"] = client.post(
        f"/r/{two}", data={name: hidden(form, name) for name in fields}
    )
    pages["thanks"] = client.get(f"/r/{two}/thanks")
    pages["closed"] = client.get(f"/r/{closed}")
    pages["not found"] = client.get("/r/no-such-desk")
    return {name: (page.status_code, page.data) for name, page in pages.items()}


def test_every_citizen_page_weighs_at_most_30_kb_compressed(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    pages = citizen_pages(client, tokens)
    assert [status for status, _ in pages.values()] == [200, 200, 200, 200, 422, 200, 200, 404]
    sizes = {name: weight(client, html) for name, (_, html) in pages.items()}
    heavy = {name: size for name, (size, _) in sizes.items() if size > BUDGET}
    assert heavy == {}, sizes
    # The questionnaire pages carry the script as well as the stylesheet, and were counted.
    for name in ("questionnaire", "questionnaire (en)", "questionnaire with errors"):
        assert [a.split("?")[0] for a in sizes[name][1]] == [
            "/static/hailong.css",
            "/static/answer.js",
        ]


def test_static_files_named_by_content_are_cached_for_a_year(
    client: FlaskClient, tokens: dict[str, str]
) -> None:
    html = client.get(f"/r/{tokens['two']}?area=HT").get_data(as_text=True)
    script = re.search(r'<script src="(/static/answer\.js\?v=[0-9a-f]{12})" defer>', html)
    assert script, "the questionnaire loads its script deferred, from a content-named URL"
    with client.get(script.group(1)) as kept:
        assert kept.status_code == 200
        assert kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # A stale or invented version is served, but must be checked again next time.
    for url in ("/static/answer.js?v=000000000000", "/static/answer.js"):
        with client.get(url) as answer:
            assert answer.status_code == 200
            assert "max-age" not in answer.headers.get("Cache-Control", "")
    assert client.get("/static/../survey/__init__.py?v=abc").status_code == 404
