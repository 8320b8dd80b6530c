"""The API's OpenAPI 3.1 document, written by hand next to the views it describes
(``survey.api.views``); tests validate it and check that every route is in it."""

from __future__ import annotations

from typing import Any

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
MAX_ID = 2_147_483_647

_ERROR_CODES = {
    "400": "Malformed request: a parameter out of range or not a number.",
    "401": "No token, an unknown, expired or revoked token, or its account is deactivated.",
    "403": "The token's account may not see this unit or round.",
    "404": "No such object.",
    "405": "Method not allowed.",
    "429": "Too many requests for this token (or, without a token, this network).",
    "500": "Unexpected error.",
    "503": "The database is unavailable; try again.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _id_param(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    }


def _enum_param(name: str, values: list[str], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "enum": values},
    }


_PAGING = [{"$ref": "#/components/parameters/page"}, {"$ref": "#/components/parameters/per_page"}]
_AUTHED = ("400", "401", "405", "429", "500", "503")


def _read(
    summary: str,
    schema: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[str, ...] = _AUTHED,
    operation_id: str,
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": params or [],
            "responses": {"200": _ok(schema, summary)} | _errors(*errors),
        }
    }


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "page", "per_page", "total", "pages"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
        },
    }


_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with Z."}
_OPT_TIME = {"type": ["string", "null"], "format": "date-time"}
_INT = {"type": "integer"}
_OPT_INT = {"type": ["integer", "null"]}
_OPT_NUM = {"type": ["number", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Machine-readable, e.g. not_found."},
            "message": {"type": "string", "description": "For people, in the request's language."},
        },
    },
    "Status": {
        "type": "object",
        "required": ["status", "api"],
        "properties": {"status": {"const": "ok"}, "api": {"const": "v1"}},
    },
    "Round": {
        "type": "object",
        "required": [
            "id",
            "name",
            "state",
            "opens_at",
            "closes_at",
            "opened_at",
            "closed_at",
            "published_at",
            "is_public",
            "template_version_id",
            "unit_ids",
        ],
        "properties": {
            "id": _INT,
            "name": {"type": "string"},
            "state": {"enum": ["draft", "open", "closed", "published"]},
            "opens_at": _TIME,
            "closes_at": _TIME,
            "opened_at": _OPT_TIME,
            "closed_at": _OPT_TIME,
            "published_at": _OPT_TIME,
            "is_public": {"type": "boolean"},
            "template_version_id": _INT,
            "unit_ids": {
                "type": "array",
                "items": _INT,
                "description": "Units in the round's scope that the token may see.",
            },
        },
    },
    "RoundDetail": {
        "allOf": [
            _ref("Round"),
            {
                "type": "object",
                "required": ["units"],
                "properties": {
                    "units": {
                        "type": "array",
                        "description": "Units with the names they had when the round opened.",
                        "items": {
                            "type": "object",
                            "required": ["id", "name"],
                            "properties": {"id": _INT, "name": {"type": "string"}},
                        },
                    }
                },
            },
        ]
    },
    "Unit": {
        "type": "object",
        "required": [
            "id",
            "code",
            "name",
            "level",
            "parent_id",
            "is_active",
            "successor_id",
            "service_area_ids",
        ],
        "properties": {
            "id": _INT,
            "code": {"type": "string"},
            "name": {"type": "string"},
            "level": {"type": "string"},
            "parent_id": _OPT_INT,
            "is_active": {"type": "boolean"},
            "successor_id": _OPT_INT,
            "service_area_ids": {"type": "array", "items": _INT},
        },
    },
    "ServiceArea": {
        "type": "object",
        "required": ["id", "code", "name", "name_en", "is_active"],
        "properties": {
            "id": _INT,
            "code": {"type": "string"},
            "name": {"type": "string"},
            "name_en": {"type": "string"},
            "is_active": {"type": "boolean"},
        },
    },
    "Answer": {
        "type": "object",
        "required": ["item_id", "item_code", "value", "not_applicable", "text"],
        "properties": {
            "item_id": _INT,
            "item_code": {"type": "string", "description": "The questionnaire item's code."},
            "value": _OPT_INT,
            "not_applicable": {"type": "boolean"},
            "text": {
                "type": ["string", "null"],
                "description": "A free-text comment, only once a moderator approved it, with "
                "phone numbers, ID numbers and e-mail addresses masked; null otherwise.",
            },
        },
    },
    "Response": {
        "type": "object",
        "required": [
            "id",
            "unit_id",
            "service_area_id",
            "desk_id",
            "received_at",
            "channel",
            "locale",
            "answers",
        ],
        "properties": {
            "id": _INT,
            "unit_id": _INT,
            "service_area_id": _INT,
            "desk_id": _INT,
            "received_at": _TIME,
            "channel": {"enum": ["qr", "kiosk", "web", "paper"]},
            "locale": {"type": "string"},
            "answers": {"type": "array", "items": _ref("Answer")},
        },
    },
    "IndexRow": {
        "type": "object",
        "description": "One index for one domain (analysis.satisfaction.IndexRow). Percent "
        "for top2box and mean_pct, scale points for mean; rounded to two decimals.",
        "required": [
            "level",
            "unit",
            "area",
            "desk",
            "kind",
            "index",
            "measure",
            "estimate",
            "se",
            "df",
            "ci_low",
            "ci_high",
            "confidence",
            "ci_method",
            "n",
            "n_answering",
            "n_excluded",
            "n_eff",
            "deff",
            "coverage",
            "flags",
        ],
        "properties": {
            "level": {"enum": ["province", "unit", "area", "cell", "desk"]},
            "unit": {"type": ["string", "null"], "description": "Unit code."},
            "area": {"type": ["string", "null"], "description": "Service area code."},
            "desk": {"type": ["string", "null"], "description": "Desk code."},
            "kind": {"enum": ["criterion", "element", "aspect", "overall", "overall_question"]},
            "index": {"type": "string", "description": "Item, element or aspect code, or overall."},
            "measure": {"enum": ["top2box", "mean", "mean_pct"]},
            "estimate": _OPT_NUM,
            "se": _OPT_NUM,
            "df": _OPT_NUM,
            "ci_low": _OPT_NUM,
            "ci_high": _OPT_NUM,
            "confidence": {"type": "number"},
            "ci_method": {"type": "string"},
            "n": _INT,
            "n_answering": _INT,
            "n_excluded": _INT,
            "n_eff": _OPT_NUM,
            "deff": _OPT_NUM,
            "coverage": _OPT_NUM,
            "flags": {"type": "array", "items": {"type": "string"}},
        },
    },
    "IndexPage": {
        "type": "object",
        "required": [
            "round_id",
            "confidence",
            "headline",
            "caveat_vi",
            "caveat_en",
            "items",
            "page",
            "per_page",
            "total",
            "pages",
        ],
        "properties": {
            "round_id": _INT,
            "confidence": {"type": "number"},
            "headline": {"enum": ["top2box", "mean", "mean_pct"]},
            "caveat_vi": {"type": "string"},
            "caveat_en": {"type": "string"},
            "items": {"type": "array", "items": _ref("IndexRow")},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": {"type": "integer", "minimum": 0},
            "pages": {"type": "integer", "minimum": 1},
        },
    },
    "RoundPage": _page_of("Round"),
    "UnitPage": _page_of("Unit"),
    "ServiceAreaPage": _page_of("ServiceArea"),
    "ResponsePage": _page_of("Response"),
}

PATHS: dict[str, Any] = {
    "/status": {
        "get": {
            "operationId": "status",
            "summary": "Is the API up (no token needed)",
            "security": [],
            "responses": {"200": _ok(_ref("Status"), "The API answers.")}
            | _errors("405", "429", "500"),
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document (no token needed)",
            "security": [],
            "responses": {"200": _ok({"type": "object"}, "The OpenAPI document.")}
            | _errors("405", "429", "500"),
        }
    },
    "/rounds": _read(
        "Survey rounds the token may see, newest first",
        _ref("RoundPage"),
        params=_PAGING,
        operation_id="listRounds",
    ),
    "/rounds/{round_id}": _read(
        "One survey round",
        _ref("RoundDetail"),
        params=[_id_param("round_id", "round")],
        errors=(*_AUTHED, "403", "404"),
        operation_id="getRound",
    ),
    "/rounds/{round_id}/responses": _read(
        "Counted responses of a round (the ones every estimate uses), oldest first; "
        "administrators' and analysts' tokens only (a unit officer's gets 403: aggregates only)",
        _ref("ResponsePage"),
        params=[
            _id_param("round_id", "round"),
            *_PAGING,
            {
                "name": "unit_id",
                "in": "query",
                "required": False,
                "description": "Only this unit's responses.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            },
        ],
        errors=(*_AUTHED, "403", "404"),
        operation_id="listRoundResponses",
    ),
    "/rounds/{round_id}/indices": _read(
        "A round's satisfaction indices with standard errors, confidence intervals, design "
        "effects and flags, per domain (a unit officer's token: their units only)",
        _ref("IndexPage"),
        params=[
            _id_param("round_id", "round"),
            *_PAGING,
            _enum_param("level", ["province", "unit", "area", "cell"], "Only this level."),
            _enum_param(
                "kind",
                ["criterion", "element", "aspect", "overall", "overall_question"],
                "Only this kind of index.",
            ),
            _enum_param("measure", ["top2box", "mean", "mean_pct"], "Only this measure."),
        ],
        errors=(*_AUTHED, "403", "404"),
        operation_id="listRoundIndices",
    ),
    "/units": _read(
        "Units the token may see, by code",
        _ref("UnitPage"),
        params=_PAGING,
        operation_id="listUnits",
    ),
    "/units/{unit_id}": _read(
        "One unit",
        _ref("Unit"),
        params=[_id_param("unit_id", "unit")],
        errors=(*_AUTHED, "403", "404"),
        operation_id="getUnit",
    ),
    "/service-areas": _read(
        "Service areas, by code",
        _ref("ServiceAreaPage"),
        params=_PAGING,
        operation_id="listServiceAreas",
    ),
}


def openapi_document() -> dict[str, Any]:
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
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token created by an administrator in the console.",
                }
            },
            "parameters": {
                "page": {
                    "name": "page",
                    "in": "query",
                    "required": False,
                    "description": "Page number from 1; a page past the end is empty.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
                },
                "per_page": {
                    "name": "per_page",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PER_PAGE,
                        "default": PER_PAGE,
                    },
                },
            },
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {"application/json": {"schema": _ref("Error")}},
                }
                for code, text in _ERROR_CODES.items()
            },
            "schemas": SCHEMAS,
        },
    }
