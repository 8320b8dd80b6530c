"""No English on a Vietnamese page (issue 19, finding 12).

A broad set of console and citizen pages of the demo province is rendered in Vietnamese; their
visible text (tags, scripts, styles, codes, numbers and the demo's proper names removed) must
not hold English words that a translated page never needs. Vietnamese is the source language,
so an English word there is a string that never went through the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from tests.helpers.demo_world import DemoWorld, demo_world

ENGLISH = frozenset(
    [
        "the",
        "and",
        "not",
        "or",
        "of",
        "is",
        "are",
        "was",
        "be",
        "by",
        "with",
        "for",
        "from",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "round",
        "rounds",
        "desk",
        "desks",
        "unit",
        "units",
        "area",
        "areas",
        "excluded",
        "excluding",
        "included",
        "burst",
        "bot",
        "created",
        "updated",
        "deleted",
        "changed",
        "index",
        "indices",
        "response",
        "responses",
        "comment",
        "comments",
        "approved",
        "hidden",
        "pending",
        "published",
        "draft",
        "open",
        "closed",
        "closes",
        "opened",
        "found",
        "page",
        "pages",
        "error",
        "invalid",
        "required",
        "overall",
        "weight",
        "weights",
        "weighted",
        "target",
        "above",
        "below",
        "cannot",
        "tell",
        "count",
        "counted",
        "answer",
        "answers",
        "question",
        "questions",
        "survey",
        "user",
        "users",
        "token",
        "tokens",
        "audit",
        "event",
        "events",
        "action",
        "actions",
        "entity",
        "before",
        "after",
        "export",
        "download",
        "chart",
        "mean",
        "score",
        "share",
        "rank",
        "level",
        "levels",
        "service",
        "services",
        "element",
        "elements",
        "criterion",
        "criteria",
        "status",
        "yes",
        "no",
        "none",
        "all",
        "any",
        "only",
        "more",
        "less",
        "than",
        "too",
        "many",
        "few",
        "time",
        "minutes",
        "hours",
        "day",
        "days",
        "date",
        "per",
        "total",
    ]
)
# Proper nouns and acronyms that stay as they are in Vietnamese.
ALLOWED = frozenset(
    [
        "SIPAS",
        "CSV",
        "XLSX",
        "SPSS",
        "Stata",
        "QR",
        "API",
        "PDF",
        "SVG",
        "PNG",
        "JSON",
        "UTC",
        "CCCD",
        "CMND",
        "UBND",
        "HTML",
        "URL",
        "ID",
        "OK",
        "Korn",
        "Graubard",
        "NCHS",
        "Taylor",
        "Bonferroni",
        "Excel",
        "LibreOffice",
        "R",
    ]
)


class _Visible(HTMLParser):
    """The text a person reads: no scripts, styles or attribute values except labels."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._skipped: list[str] = []  # English wording of a questionnaire is marked lang="en"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "kbd", "samp") or ("lang", "en") in attrs:
            self._skip += 1
            self._skipped.append(tag)
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if self._skipped and tag == self._skipped[-1]:
            self._skipped.pop()
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_words(html: str) -> list[str]:
    parser = _Visible()
    parser.feed(html)
    text = " ".join(parser.parts)
    text = re.sub(r"\S*[\d_/@.:=]\S*", " ", text)  # codes, numbers, URLs, dotted names
    words = re.findall(r"[A-Za-z]+", text)
    return sorted({w for w in words if w.lower() in ENGLISH and w not in ALLOWED})


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    yield from demo_world(migrated_template, tmp_path_factory.mktemp("vietnamese"))


def _console_pages(world: DemoWorld) -> list[str]:
    r, c = world.round_id, world.closed_round_id
    return [
        "/admin/",
        "/admin/rounds",
        f"/admin/rounds/{r}",
        f"/admin/rounds/{r}/edit",
        f"/admin/rounds/{r}/state/close",
        f"/admin/rounds/{c}/state/publish",
        f"/admin/rounds/{r}/dossiers",
        f"/admin/rounds/{r}/monitoring",
        f"/admin/rounds/{r}/monitoring/daily.svg",
        f"/admin/rounds/{r}/desks/1",
        f"/admin/rounds/{r}/comments?state=all",
        f"/admin/rounds/{r}/results",
        f"/admin/rounds/{r}/results/units",
        f"/admin/rounds/{r}/results/units/chart",
        f"/admin/rounds/{r}/results/units/1",
        f"/admin/rounds/{r}/results/units/1/chart",
        f"/admin/rounds/{r}/results/elements",
        f"/admin/rounds/{r}/results/elements/chart",
        f"/admin/rounds/{r}/results/criteria/chart",
        f"/admin/rounds/{r}/results/areas",
        f"/admin/rounds/{r}/results/areas/chart",
        f"/admin/rounds/{r}/results/change",
        f"/admin/rounds/{r}/report",
        "/admin/units",
        "/admin/units/1",
        "/admin/units/new",
        "/admin/units/merge",
        "/admin/units/import",
        "/admin/service-areas",
        "/admin/desks/1",
        "/admin/desks/1/token",
        "/admin/posters",
        "/admin/templates",
        "/admin/templates/versions/1",
        "/admin/templates/versions/1/preview",
        "/admin/users",
        "/admin/users/1",
        "/admin/api-tokens",
        "/admin/audit",
        "/admin/audit/1",
        "/admin/account/password",
        "/admin/rounds/999999",  # a 404 in the console
    ]


def _citizen_pages(world: DemoWorld) -> list[str]:
    return [
        "/",
        f"/r/{world.desk_token}",
        f"/r/{world.desk_token}/thanks",
        f"/r/{world.revoked_token}",  # a revoked desk link
        "/r/khong-co-quay-nay",  # an unknown one
        "/ket-qua",
        "/admin/login",
    ]


def test_the_detector_finds_english_and_ignores_codes() -> None:
    assert english_words("<p>Round closed</p>") == ["Round", "closed"]
    assert english_words("<p>Đợt <code>round.open</code> hb_round.close SIPAS</p>") == []
    assert english_words('<p title="Export the units">Xuất</p>') == ["Export", "the", "units"]


@pytest.mark.parametrize("role", ["admin", "officer"])
def test_console_pages_in_vietnamese_hold_no_english(world: DemoWorld, role: str) -> None:
    client = world.client(role)
    found = {}
    for url in _console_pages(world):
        answer = client.get(url)
        assert answer.status_code < 500, url
        words = english_words(answer.get_data(as_text=True))
        if words:
            found[url] = words
    assert found == {}, "\n".join(f"{u}: {w}" for u, w in found.items())


def test_citizen_pages_in_vietnamese_hold_no_english(world: DemoWorld) -> None:
    client = world.client("anonymous")
    found = {}
    for url in _citizen_pages(world):
        answer = client.get(url)
        assert answer.status_code < 500, url
        words = english_words(answer.get_data(as_text=True))
        if words:
            found[url] = words
    assert found == {}, "\n".join(f"{u}: {w}" for u, w in found.items())
