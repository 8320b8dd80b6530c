"""The API's OpenAPI 3.1 document, generated: the paths and methods from Flask's URL map, each
operation, parameter and schema from its declaration beside the view (``survey.api.views``, in
the vocabulary of ``survey.api.shapes``). Nothing here repeats what a view does; a route without
a declaration fails the document (and the test that reads it)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import current_app

from survey.api.shapes import JSON, OPERATIONS, Field, Param, Shape, ref

API_PREFIX = "/api/v1"

ERROR_CODES = {
    "400": "Malformed request: a parameter out of range or not a number.",
    "401": "No token, an unknown, expired or revoked token, or its account is deactivated.",
    "403": "The token's account may not see this unit or round.",
    "404": "No such object.",
    "405": "Method not allowed.",
    "429": "Too many requests for this token (or, without a token, this network).",
    "500": "Unexpected error.",
    "503": "The database is unavailable; try again.",
}
# What any request with a token may answer besides its own codes.
AUTHED = ("400", "401", "405", "429", "500", "503")

# Errors are written by survey.errors for every blueprint; this is their shape.
ERROR = Shape(
    "Error",
    (
        Field("code", {"type": "string"}, "Machine-readable, e.g. not_found."),
        Field("message", {"type": "string"}, "For people, in the request's language."),
    ),
)
_PATH_PARAM = re.compile(r"<(?:[^<>:]*:)?(\w+)>")


def _path(rule: str) -> str:
    """Flask's ``/api/v1/rounds/<int(max=...):round_id>`` as OpenAPI's ``/rounds/{round_id}``."""
    return _PATH_PARAM.sub(r"{\1}", rule.removeprefix(API_PREFIX))


def _schemas(shapes: Iterable[Shape]) -> JSON:
    """Every shape in ``shapes`` and those they hold, by name (a name used twice is an error)."""
    found: dict[str, Shape] = {}
    for top in shapes:
        for shape in top.shapes():
            if found.setdefault(shape.name, shape) is not shape:
                raise ValueError(f"two API shapes are named {shape.name}")
    return {name: shape.json_schema() for name, shape in found.items()}


def openapi_document() -> JSON:
    """The document of every ``api.`` route of the running application."""
    paths: JSON = {}
    components: dict[str, Param] = {}
    answers: list[Shape] = [ERROR]
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith("api."):
            continue
        declared = OPERATIONS.get(rule.endpoint)
        if declared is None:
            raise LookupError(f"{rule.endpoint} has no declared Operation (survey.api.shapes)")
        components |= {p.name: p for p in declared.params if p.component}
        if isinstance(declared.answer, Shape):
            answers.append(declared.answer)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(_path(rule.rule), {})[method.lower()] = declared.openapi()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hài lòng API",
            "version": "1",
            "description": (
                "Survey rounds, units, service areas, satisfaction indices with their intervals "
                "and counted responses. Every token acts for one staff account with that "
                "account's role: a unit officer's token sees only their units. Errors are JSON "
                "{code, message}."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token created by an administrator in the console.",
                }
            },
            "parameters": {name: p.openapi() for name, p in components.items()},
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {"application/json": {"schema": ref("Error")}},
                }
                for code, text in ERROR_CODES.items()
            },
            "schemas": _schemas(answers),
        },
    }
