"""No id, token, path, page or filter value makes any route answer 5xx (issue 19, finding 6).

Every rule of ``app.url_map`` is walked: each of its URL parameters in turn gets hostile values
(past the database's integer range, negative, NUL bytes, very long strings) while the others
stay valid, and every GET route gets hostile query filters (``page``, ``under`` and the other
names the views read), as an administrator and as an anonymous visitor, on the demo province.
Run on SQLite and on PostgreSQL (whose integers stop at 2**31 - 1 and whose text cannot hold a
NUL): the two refuse different things, so the same walk finds different bugs on each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import pytest
from flask import Flask, Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import Rule

from survey.extensions import db
from survey.models import Desk
from tests.admin.conftest import csrf_token
from tests.helpers.demo_world import DemoWorld, demo_world

# One value per way a path segment can be wrong; the int converter refuses all but the first
# where a column is a bigint, so these are cheap 404s unless a route lets one through.
HOSTILE_SEGMENTS = (
    "2147483648",  # 2**31: past PostgreSQL's integer (a bigint id still takes it)
    "9223372036854775808",  # 2**63: past any database integer
    "0",
    "-1",
    "abc%00def",  # PostgreSQL text cannot hold a NUL
    "x" * 5000,
)
# One value per way a query filter can be wrong: negative, past every integer, not a number a
# comparison can order, a long text with bytes that are not UTF-8, and a NUL (refused before
# any view). Every filter a view reads gets the value at once: one request per route and
# value.
HOSTILE_QUERY = (
    "-1",
    "9223372036854775808",
    "nan",
    "%ff%fe" + "x" * 5000,
    "%00",
)
# Every query argument a console or public view reads (grep "request.args" in survey/), and the
# API's filters.
FILTERS = (
    "page",
    "under",
    "depth",
    "q",
    "status",
    "state",
    "sort",
    "since",
    "target",
    "start",
    "end",
    "frame",
    "format",
    "size",
    "subunits",
    "parent",
    "successor",
    "absorbed",
    "area",
    "unit_id",
    "per_page",
    "level",
    "next",
    "dossier_code",
    "action",
    "entity_type",
    "entity_id",
    "actor",
    "until",
    "per_page",
    "desk_page",
    "unit_page",
    "units_page",
    "scope_page",
    "rounds_page",
    "idle_page",
    "frame_page",
    "sent",
    "answers",
)
PARAMETER = re.compile(r"<(?:(?P<converter>[a-zA-Z_]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
ROLES = ("anonymous", "admin")


@pytest.fixture(scope="module")
def world(migrated_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorld]:
    yield from demo_world(migrated_template, tmp_path_factory.mktemp("hostile"))


class _Visitor:
    """One role's clients for the whole walk, with one CSRF token for its posts."""

    def __init__(self, world: DemoWorld, role: str) -> None:
        self.pages = world.client(role)
        self.api = world.client(role, api=True)
        login_page = "/admin/login" if role == "anonymous" else "/admin/"
        self.csrf = csrf_token(self.pages, login_page)

    def status(self, rule: Rule, method: str, url: str) -> int:
        client = self.api if rule.endpoint.startswith("api.") else self.pages
        data = {"csrf_token": self.csrf} if method == "POST" else None
        # Closed at once: a download is a file the response holds open until then.
        with client.open(url, method=method, data=data) as answer:
            return answer.status_code


def _valid(world: DemoWorld, converter: str | None, args: str | None, name: str) -> str:
    """A value the route accepts, so that the other parameter's hostile value is what is
    tested."""
    if converter == "any":
        return (args or "").split(",")[0].strip()
    if (converter in ("int", None) and name.endswith("_id")) or converter == "int":
        return str(world.round_id) if name == "round_id" else "1"
    if name == "token":
        return world.desk_token
    if name == "filename":
        return "app.css"
    return {"fmt": "csv", "kind": "units", "action": "close"}.get(name, "x")


def _url(world: DemoWorld, rule: Rule, hostile: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group("name")
        if name in hostile:
            return hostile[name]
        return quote(_valid(world, match.group("converter"), match.group("args"), name), safe="")

    return PARAMETER.sub(fill, rule.rule)


def _rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: r.rule)


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) & {"GET", "POST"})


def test_the_walk_covers_every_parameterised_rule(world: DemoWorld) -> None:
    with_parameters = [r for r in _rules(world.app) if r.arguments]
    assert len(with_parameters) > 70  # the console, the API and the citizen's pages
    converters = {m.group("converter") for r in with_parameters for m in PARAMETER.finditer(r.rule)}
    assert {"int", "any", "path"} <= converters


@pytest.mark.parametrize("role", ROLES)
def test_hostile_path_parameters_never_answer_5xx(world: DemoWorld, role: str) -> None:
    visitor = _Visitor(world, role)
    failures = []
    for rule in _rules(world.app):
        for name in sorted(rule.arguments):
            for value in HOSTILE_SEGMENTS:
                url = _url(world, rule, {name: value})
                for method in _methods(rule):
                    status = visitor.status(rule, method, url)
                    if status >= 500:
                        failures.append((method, rule.rule, name, value[:24], status))
    assert failures == []


class _RecordingArgs(ImmutableMultiDict[str, str]):
    """Query arguments that remember which names a view asked for."""

    asked: ClassVar[set[str]] = set()

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def getlist(self, key: str, type: Any = None) -> list[Any]:  # werkzeug's name
        self.asked.add(key)
        return super().getlist(key, type)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


class _RecordingRequest(Request):
    parameter_storage_class = _RecordingArgs


def _gets(app: Flask) -> list[Rule]:
    return [r for r in _rules(app) if "GET" in (r.methods or ()) and r.endpoint != "static"]


def _names_read(
    world: DemoWorld, visitor: _Visitor, rule: Rule, url: str, value: str
) -> tuple[set[str], int]:
    """The query arguments the route's view asks for when every one of ``FILTERS`` is
    ``value``, and its answer's status. Every view reads its filters before refusing any."""
    world.app.request_class = _RecordingRequest
    _RecordingArgs.asked = set()
    try:
        query = urlencode(dict.fromkeys(FILTERS, value), safe="%")
        status = visitor.status(rule, "GET", f"{url}?{query}")
        return set(_RecordingArgs.asked), status
    finally:
        world.app.request_class = Request


@pytest.mark.parametrize("role", ROLES)
def test_hostile_query_filters_never_answer_5xx(world: DemoWorld, role: str) -> None:
    visitor = _Visitor(world, role)
    failures = []
    read_somewhere: set[str] = set()
    asked: set[str] = set()
    for rule in _gets(world.app):
        url = _url(world, rule, {})
        read = _names_read(world, visitor, rule, url, "1")[0]
        asked |= read
        names = sorted(read & set(FILTERS))
        read_somewhere |= set(names)
        for value in HOSTILE_QUERY if names else ():
            query = urlencode(dict.fromkeys(names, value), safe="%")
            status = visitor.status(rule, "GET", f"{url}?{query}")
            if 400 <= status < 500 and len(names) > 1 and value != "%00":
                # The view refused the first bad filter it read: each alone, so that none
                # hides behind another.
                alone = [urlencode({name: value}, safe="%") for name in names]
                status = max(visitor.status(rule, "GET", f"{url}?{q}") for q in alone)
            if status >= 500:
                failures.append((rule.rule, query[:60], status))
    assert failures == []
    # A filter a view reads and the list lacks would escape the walk; the language switch is
    # read by every page and takes any text.
    assert asked - set(FILTERS) <= {"lang", "v"}
    if role == "admin":  # the walk reached every filter of the list but the sign-in's
        assert read_somewhere == set(FILTERS) - {"next"}


def test_a_nul_in_a_desk_link_is_not_found(world: DemoWorld) -> None:
    client = world.client("anonymous")
    for url in ("/r/abc%00def", "/r/abc%00def/thanks", f"/r/{world.desk_token}%00"):
        assert client.get(url).status_code == 404, url
    assert client.post("/r/abc%00def", data={"x": "1"}).status_code == 404
    assert client.get(f"/r/{world.desk_token}").status_code == 200


def test_ids_past_the_database_range_are_not_found_for_an_administrator(
    world: DemoWorld,
) -> None:
    admin = world.client("admin")
    for value in ("2147483648", "9223372036854775808"):
        assert admin.get(f"/admin/rounds/{value}").status_code == 404
        assert admin.get(f"/admin/units/{value}").status_code == 404
        assert admin.get(f"/admin/audit/{value}").status_code == 404
    assert admin.get(f"/admin/rounds/{world.round_id}").status_code == 200
    with world.app.app_context():
        assert db.session.get(Desk, 1) is not None
