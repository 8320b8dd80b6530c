"""What a URL may hold before a view sees it: ids within the database's integer range, desk
tokens of the characters they are made of, page numbers and id filters bounded.

A number past what a column holds is not an error of the database but a page that does not
exist: PostgreSQL refuses 2**31 for an ``integer`` column and SQLite refuses 2**63, and either
would otherwise answer 500. Checking it here, once for every route, is what keeps every view
from having to remember.
"""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.routing import BaseConverter, IntegerConverter, Map

INT32_MAX = 2**31 - 1  # ids of most tables (PostgreSQL ``integer``)
INT64_MAX = 2**63 - 1  # responses, answers, audit events (``bigint``)
MAX_PAGE = 1_000_000  # far past any list's last page; pages past the last show the last
DESK_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class IdConverter(IntegerConverter):
    """``<int:name>`` for every route: a positive id the column can hold (``int(max=...)`` for
    a ``bigint`` column), anything else no match, so a 404."""

    def __init__(self, map: Map, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", INT32_MAX)
        super().__init__(map, *args, **kwargs)  # type: ignore[arg-type]  # werkzeug's own types


class DeskTokenConverter(BaseConverter):
    """``<token:token>``: the characters ``secrets.token_urlsafe`` makes, at most 64; a NUL or
    any other character cannot reach the database (PostgreSQL text refuses a NUL)."""

    regex = DESK_TOKEN.pattern


def bounded_id(raw: str) -> int:
    """For ``request.args.get(name, type=bounded_id)``: an id the database can compare, or the
    argument's default (Flask treats the ValueError as "not given")."""
    value = int(raw)
    if not 1 <= value <= INT32_MAX:
        raise ValueError(raw)
    return value


def page_number(raw: str) -> int:
    """For ``request.args.get("page", 1, type=page_number)``: a page from 1 to ``MAX_PAGE``
    (a list shows its last page for any number past it)."""
    return min(max(1, int(raw)), MAX_PAGE)


def init_app(app: Flask) -> None:
    # Before any blueprint adds its rules: a rule compiles its converters when it is added.
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["token"] = DeskTokenConverter
