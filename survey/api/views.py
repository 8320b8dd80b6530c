"""API views: thin readers over the services, JSON out. What each route takes and answers is
declared here once (``survey.api.shapes``): the views build their answers from the shapes and
read their parameters through the declared ``Param``s, and ``survey.api.openapi`` writes the
OpenAPI document from the same declarations."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from flask import abort, jsonify, request

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from survey.api import bp
from survey.api.auth import api_user
from survey.api.openapi import AUTHED, openapi_document
from survey.api.shapes import Field, Operation, Param, Shape, operation, page_of
from survey.models import Response, Role, Round, ServiceArea, Unit
from survey.services.access import ensure_unit_visible, visible_unit_ids
from survey.services.exports.api_data import (
    approved_texts,
    areas_page,
    index_rows,
    item_codes,
    responses_page,
    round_unit_names,
    rounds_page,
    scope_ids,
    units_page,
)
from survey.services.organisation.units import visible_unit
from survey.services.paging import Page
from survey.services.posters.qr import qr_png, qr_svg
from survey.services.responses.receipt_links import (
    MAX_BATCH,
    ensure_may_mint,
    mint_receipt_links,
)
from survey.services.results.indices import LEVELS
from survey.services.results.publication import PublicRow, public_results, public_round
from survey.services.rounds.lifecycle import rounds_for, visible_round

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_PAGE = 1_000_000
# Ids are 32-bit on every table the API reads by id; a larger number is simply not found
# (PostgreSQL would refuse it as a parameter, which must not become a 500).
MAX_ID = 2_147_483_647
ID = f"int(max={MAX_ID})"

# --- parameters -------------------------------------------------------------------------------

PAGE = Param(
    "page",
    "query",
    "Page number from 1; a page past the end is empty.",
    maximum=MAX_PAGE,
    default=1,
    component=True,
)
PER_PAGE_PARAM = Param("per_page", "query", maximum=MAX_PER_PAGE, default=PER_PAGE, component=True)
PAGING = (PAGE, PER_PAGE_PARAM)


def _id(name: str, what: str) -> Param:
    return Param(name, "path", f"The {what}'s id.", minimum=0, maximum=MAX_ID)


ROUND_ID, UNIT_ID_PATH = _id("round_id", "round"), _id("unit_id", "unit")
UNIT_FILTER = Param("unit_id", "query", "Only this unit's responses.", maximum=MAX_ID)
# Desks are a console drill-down: not computed for the API.
LEVEL = Param(
    "level",
    "query",
    "Only this level; unit_tree is a unit with all its sub-units as one domain (unit = the "
    "parent unit's code).",
    choices=Level,
    allowed=tuple(v.value for v in LEVELS),
)
KIND = Param("kind", "query", "Only this kind of index.", choices=IndexKind)
MEASURE = Param("measure", "query", "Only this measure.", choices=IndexDefinition)

# --- answers ----------------------------------------------------------------------------------

_INT = {"type": "integer"}
_OPT_INT = {"type": ["integer", "null"]}
_OPT_NUM = {"type": ["number", "null"]}
_STR = {"type": "string"}
_OPT_STR = {"type": ["string", "null"]}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time", "description": "UTC, ISO 8601 with Z."}
_OPT_TIME = {"type": ["string", "null"], "format": "date-time"}


def _enum(values: type[Any] | tuple[str, ...]) -> dict[str, Any]:
    return {"enum": [getattr(v, "value", v) for v in values]}


STATUS = Shape("Status", (Field("status", {"const": "ok"}), Field("api", {"const": "v1"})))
ROUND = Shape(
    "Round",
    (
        Field("id", _INT),
        Field("name", _STR),
        Field("state", _enum(("draft", "open", "closed", "published"))),
        Field("opens_at", _TIME),
        Field("closes_at", _TIME),
        Field("opened_at", _OPT_TIME),
        Field("closed_at", _OPT_TIME),
        Field("published_at", _OPT_TIME),
        Field("is_public", _BOOL),
        Field("template_version_id", _INT),
        Field(
            "unit_ids",
            {"type": "array", "items": _INT},
            "Units in the round's scope that the token may see.",
        ),
    ),
)
ROUND_UNIT = Shape("RoundUnit", (Field("id", _INT), Field("name", _STR)))
ROUND_DETAIL = ROUND.extended(
    "RoundDetail",
    Field(
        "units",
        description="Units with the names they had when the round opened.",
        nested=ROUND_UNIT,
        many=True,
    ),
)
UNIT = Shape(
    "Unit",
    (
        Field("id", _INT),
        Field("code", _STR),
        Field("name", _STR),
        Field("level", _STR),
        Field("parent_id", _OPT_INT),
        Field("is_active", _BOOL),
        Field("successor_id", _OPT_INT),
        Field("service_area_ids", {"type": "array", "items": _INT}),
    ),
)
SERVICE_AREA = Shape(
    "ServiceArea",
    (
        Field("id", _INT),
        Field("code", _STR),
        Field("name", _STR),
        Field("name_en", _STR),
        Field("is_active", _BOOL),
    ),
)
ANSWER = Shape(
    "Answer",
    (
        Field("item_id", _INT),
        Field("item_code", _STR, "The questionnaire item's code."),
        Field("value", _OPT_INT),
        Field("not_applicable", _BOOL),
        Field(
            "text",
            _OPT_STR,
            "A free-text comment, only once a moderator approved it, with phone numbers, ID "
            "numbers and e-mail addresses masked; null otherwise.",
        ),
    ),
)
RESPONSE = Shape(
    "Response",
    (
        Field("id", _INT),
        Field("unit_id", _INT),
        Field("service_area_id", _INT),
        Field("desk_id", _OPT_INT, "Null for a sampled round's answer, which no desk received."),
        Field("received_at", _TIME),
        Field("channel", _enum(("qr", "kiosk", "web", "paper"))),
        Field(
            "mode",
            _OPT_STR,
            "How a sampled round's answer came: self_web, paper, phone or face_to_face; null "
            "at a desk.",
        ),
        Field("locale", _STR),
        Field("answers", nested=ANSWER, many=True),
    ),
)
INDEX_ROW = Shape(
    "IndexRow",
    (
        Field("level", _enum(Level)),
        Field("unit", _OPT_STR, "Unit code."),
        Field("area", _OPT_STR, "Service area code."),
        Field("desk", _OPT_STR, "Desk code."),
        Field("kind", _enum(IndexKind)),
        Field("index", _STR, "Item, element or aspect code, or overall."),
        Field("measure", _enum(IndexDefinition)),
        Field("estimate", _OPT_NUM),
        Field("se", _OPT_NUM),
        Field("df", _OPT_NUM),
        Field("ci_low", _OPT_NUM),
        Field("ci_high", _OPT_NUM),
        Field("confidence", {"type": "number"}),
        Field("ci_method", _STR),
        Field("n", _INT),
        Field("n_answering", _INT),
        Field("n_excluded", _INT),
        Field("n_eff", _OPT_NUM),
        Field("deff", _OPT_NUM),
        Field("coverage", _OPT_NUM),
        Field("flags", {"type": "array", "items": _STR}),
    ),
    description="One index for one domain (analysis.satisfaction.IndexRow). Percent for top2box "
    "and mean_pct, scale points for mean; rounded to two decimals.",
)
ROUND_PAGE = page_of(ROUND, max_per_page=MAX_PER_PAGE)
UNIT_PAGE = page_of(UNIT, max_per_page=MAX_PER_PAGE)
SERVICE_AREA_PAGE = page_of(SERVICE_AREA, max_per_page=MAX_PER_PAGE)
RESPONSE_PAGE = page_of(RESPONSE, max_per_page=MAX_PER_PAGE)
INDEX_PAGE = page_of(
    INDEX_ROW,
    max_per_page=MAX_PER_PAGE,
    name="IndexPage",
    first=(
        Field("round_id", _INT),
        Field("confidence", {"type": "number"}),
        Field("headline", _enum(IndexDefinition)),
        Field("caveat_vi", _STR),
        Field("caveat_en", _STR),
    ),
)
PUBLIC_ROW = Shape(
    "PublicRow",
    (
        Field("code", _STR, "Unit code; empty for the province."),
        Field("name", _STR, "The unit's name when the round opened."),
        Field(
            "subtree",
            _BOOL,
            "The unit with all its sub-units as one domain (false: its own desks only).",
        ),
        Field(
            "status",
            _enum(("publish", "suppress", "no_data")),
            "suppress: the number fails the round's publishing rule and is withheld "
            "(chưa đủ số liệu để công bố); estimate and interval are then null.",
        ),
        Field("estimate", _OPT_NUM),
        Field("ci_low", _OPT_NUM, "Never equal to ci_high."),
        Field("ci_high", _OPT_NUM),
        Field("n", _INT, "Counted responses, shown also when the number is withheld."),
        Field("clipped", _BOOL, "The interval was cut at the end of the scale."),
        Field("cannot_tell", _BOOL, "One response, one desk or no measurable error."),
        Field("reasons_vi", {"type": "array", "items": _STR}, "Why it is withheld."),
        Field("reasons_en", {"type": "array", "items": _STR}),
    ),
)
PUBLIC_RESULTS = Shape(
    "PublicResults",
    (
        Field("round_id", _INT),
        Field("name", _STR),
        Field("opens_at", _TIME),
        Field("closes_at", _TIME),
        Field("published_at", _TIME),
        Field("measure", _enum(IndexDefinition)),
        Field("confidence", {"type": "number"}),
        Field("rule_vi", _STR, "The publishing rule, as the methods annex states it."),
        Field("rule_en", _STR),
        Field("province", nested=PUBLIC_ROW, nullable=True),
        Field("units", nested=PUBLIC_ROW, many=True),
    ),
    description="What the public results page of a published round shows.",
)
SEEN = (*AUTHED, "403", "404")  # reading one object: it may be another unit's, or none


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _paging() -> tuple[int, int]:
    return PAGE.read(), PER_PAGE_PARAM.read()


def _listing(shape: Shape, page: Page[Any], items: list[dict[str, Any]]) -> Any:
    return jsonify(
        shape(
            items=items, page=page.page, per_page=page.per_page, total=page.total, pages=page.pages
        )
    )


def _round(round_: Round, unit_ids: set[int] | None) -> dict[str, Any]:
    return ROUND(
        id=round_.id,
        name=round_.name,
        state=round_.state,
        opens_at=_iso(round_.opens_at),
        closes_at=_iso(round_.closes_at),
        opened_at=_iso(round_.opened_at),
        closed_at=_iso(round_.closed_at),
        published_at=_iso(round_.published_at),
        is_public=round_.is_public,
        template_version_id=round_.template_version_id,
        unit_ids=scope_ids(round_, unit_ids),
    )


def _unit(unit: Unit) -> dict[str, Any]:
    return UNIT(
        id=unit.id,
        code=unit.code,
        name=unit.name,
        level=unit.level_code,
        parent_id=unit.parent_id,
        is_active=unit.is_active,
        successor_id=unit.successor_id,
        service_area_ids=[a.id for a in unit.service_areas],
    )


def _area(area: ServiceArea) -> dict[str, Any]:
    return SERVICE_AREA(
        id=area.id, code=area.code, name=area.name, name_en=area.name_en, is_active=area.is_active
    )


def _response(response: Response, texts: dict[int, str], codes: dict[int, str]) -> dict[str, Any]:
    return RESPONSE(
        id=response.id,
        unit_id=response.unit_id,
        service_area_id=response.service_area_id,
        desk_id=response.desk_id,
        received_at=_iso(response.received_at),
        channel=response.channel,
        mode=response.mode,
        locale=response.locale,
        answers=[
            ANSWER(
                item_id=a.item_id,
                item_code=codes.get(a.item_id),
                value=a.value,
                not_applicable=a.not_applicable,
                # Only approved comments, masked; pending and hidden ones are withheld.
                text=texts.get(a.id),
            )
            for a in sorted(response.answers, key=lambda a: (a.item_id, a.value or 0))
        ],
    )


@bp.get("/status")
@operation(
    Operation(
        "status",
        "Is the API up (no token needed)",
        STATUS,
        errors=("405", "429", "500"),
        public=True,
        answer_description="The API answers.",
    )
)
def status() -> Any:
    return jsonify(STATUS(status="ok", api="v1"))


@bp.get("/openapi.json")
@operation(
    Operation(
        "openapi",
        "This document (no token needed)",
        {"type": "object"},
        errors=("405", "429", "500"),
        public=True,
        answer_description="The OpenAPI document.",
    )
)
def openapi() -> Any:
    return jsonify(openapi_document())


@bp.get("/rounds")
@operation(
    Operation(
        "listRounds",
        "Survey rounds the token may see, newest first",
        ROUND_PAGE,
        PAGING,
        AUTHED,
    )
)
def rounds() -> Any:
    unit_ids = visible_unit_ids(api_user())
    page = rounds_page(rounds_for(unit_ids), *_paging())
    return _listing(ROUND_PAGE, page, [_round(r, unit_ids) for r in page.items])


@bp.get(f"/rounds/<{ID}:round_id>")
@operation(Operation("getRound", "One survey round", ROUND_DETAIL, (ROUND_ID,), SEEN))
def round_detail(round_id: int) -> Any:
    unit_ids = visible_unit_ids(api_user())
    round_ = visible_round(round_id, unit_ids)
    body = _round(round_, unit_ids)
    names = round_unit_names(round_)
    units = [ROUND_UNIT(id=uid, name=names[uid]) for uid in body["unit_ids"]]
    return jsonify(ROUND_DETAIL(**body, units=units))


@bp.get(f"/rounds/<{ID}:round_id>/responses")
@operation(
    Operation(
        "listRoundResponses",
        "Counted responses of a round (the ones every estimate uses), oldest first; "
        "administrators' and analysts' tokens only (a unit officer's gets 403: aggregates only)",
        RESPONSE_PAGE,
        (ROUND_ID, *PAGING, UNIT_FILTER),
        SEEN,
    )
)
def round_responses(round_id: int) -> Any:
    user = api_user()
    if user.role == Role.UNIT_OFFICER:
        # Aggregates only: the clerk who served a citizen could tie a single response (desk,
        # time to the second, answers) to that person, which the console refuses them too.
        abort(403, description="Unit officers read aggregated figures only, not responses.")
    unit_ids = visible_unit_ids(user)
    round_ = visible_round(round_id, unit_ids)
    unit_id = UNIT_FILTER.read()
    if unit_id is not None:
        ensure_unit_visible(user, unit_id)
    page = responses_page(round_, unit_ids, *_paging(), unit_id=unit_id)
    texts, codes = approved_texts(page.items), item_codes(round_)
    return _listing(RESPONSE_PAGE, page, [_response(r, texts, codes) for r in page.items])


@bp.get(f"/rounds/<{ID}:round_id>/indices")
@operation(
    Operation(
        "listRoundIndices",
        "A round's satisfaction indices with standard errors, confidence intervals, design "
        "effects and flags, per domain (a unit officer's token: their units only)",
        INDEX_PAGE,
        (ROUND_ID, *PAGING, LEVEL, KIND, MEASURE),
        SEEN,
    )
)
def round_indices(round_id: int) -> Any:
    """The round's index table: estimate, SE, interval, n, design effect and flags per index
    and domain, from the same estimation as the console's result pages."""
    unit_ids = visible_unit_ids(api_user())
    round_ = visible_round(round_id, unit_ids)
    level, kind, measure = LEVEL.read(), KIND.read(), MEASURE.read()
    rows = index_rows(
        round_, unit_ids, *_paging(), level=level, kind=kind, measure=measure and measure.value
    )
    page = rows.page
    return jsonify(
        INDEX_PAGE(
            round_id=round_.id,
            confidence=rows.confidence,
            headline=rows.headline,
            caveat_vi=rows.caveat_vi,
            caveat_en=rows.caveat_en,
            items=[INDEX_ROW(**record) for record in page.items],
            page=page.page,
            per_page=page.per_page,
            total=page.total,
            pages=page.pages,
        )
    )


def _public_row(row: PublicRow) -> dict[str, Any]:
    return PUBLIC_ROW(
        code=row.code,
        name=row.name,
        subtree=row.subtree,
        status=row.status.value,
        estimate=row.estimate,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        n=row.n,
        clipped=row.clipped,
        cannot_tell=row.cannot_tell,
        reasons_vi=list(row.reasons_vi),
        reasons_en=list(row.reasons_en),
    )


@bp.get(f"/public/rounds/<{ID}:round_id>")
@operation(
    Operation(
        "getPublicResults",
        "The public results of a published round (no token needed): the province's and each "
        "unit's overall index under the round's publishing rule; a withheld number has its n "
        "and no value",
        PUBLIC_RESULTS,
        (ROUND_ID,),
        ("404", "405", "429", "500", "503"),
        public=True,
    )
)
def public_round_results(round_id: int) -> Any:
    round_ = public_round(round_id)
    found = public_results(round_)
    return jsonify(
        PUBLIC_RESULTS(
            round_id=round_.id,
            name=round_.name,
            opens_at=_iso(round_.opens_at),
            closes_at=_iso(round_.closes_at),
            published_at=_iso(round_.published_at),
            measure=found.measure,
            confidence=found.confidence,
            rule_vi=found.rule.annex_vi,
            rule_en=found.rule.annex_en,
            province=_public_row(found.province) if found.province else None,
            units=[_public_row(u) for u in found.units],
        )
    )


@bp.get("/units")
@operation(Operation("listUnits", "Units the token may see, by code", UNIT_PAGE, PAGING, AUTHED))
def units() -> Any:
    page = units_page(visible_unit_ids(api_user()), *_paging())
    return _listing(UNIT_PAGE, page, [_unit(u) for u in page.items])


@bp.get(f"/units/<{ID}:unit_id>")
@operation(Operation("getUnit", "One unit", UNIT, (UNIT_ID_PATH,), SEEN))
def unit_detail(unit_id: int) -> Any:
    return jsonify(_unit(visible_unit(unit_id, visible_unit_ids(api_user()))))


@bp.get("/service-areas")
@operation(
    Operation("listServiceAreas", "Service areas, by code", SERVICE_AREA_PAGE, PAGING, AUTHED)
)
def service_areas() -> Any:
    page = areas_page(*_paging())
    return _listing(SERVICE_AREA_PAGE, page, [_area(a) for a in page.items])


# --- receipt links ----------------------------------------------------------------------------

RECEIPT_LINK = Shape(
    "ReceiptLink",
    (
        Field("code", _STR, "The dossier code as signed (upper case, no spaces)."),
        Field("url", _STR, "The link to print as the receipt's QR (docs/receipt-links.md)."),
        Field(
            "qr",
            {"type": ["string", "null"]},
            "The QR: SVG text, or PNG in base64, as asked; null when not asked.",
        ),
    ),
)
RECEIPT_LINKS = Shape("ReceiptLinks", (Field("links", nested=RECEIPT_LINK, many=True),))
RECEIPT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["desk_token", "codes"],
    "additionalProperties": False,
    "properties": {
        "desk_token": {"type": "string", "description": "The desk's token (of its QR link)."},
        "codes": {
            "type": "array",
            "items": {"type": "string", "minLength": 4, "maxLength": 40},
            "minItems": 1,
            "maxItems": MAX_BATCH,
        },
        "expires": {
            "type": ["integer", "null"],
            "minimum": 1,
            "description": "Unix time (UTC) after which the links no longer fill in the code.",
        },
        "qr": {"enum": ["none", "png", "svg"], "default": "none"},
    },
}
_MAX_UNIX = 2**40


def _receipt_request() -> tuple[str, list[str], int | None, str]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - set(RECEIPT_REQUEST["properties"]):
        abort(400, description="The body must be a JSON object as the document describes.")
    token, codes = body.get("desk_token"), body.get("codes")
    expires, qr = body.get("expires"), body.get("qr", "none")
    if not isinstance(token, str) or not 0 < len(token) <= 100:
        abort(400, description="'desk_token' must be a desk's token.")
    if (
        not isinstance(codes, list)
        or not 0 < len(codes) <= MAX_BATCH
        or not all(isinstance(c, str) and len(c) <= 100 for c in codes)
    ):
        abort(400, description=f"'codes' must be a list of 1 to {MAX_BATCH} dossier codes.")
    if expires is not None and (
        isinstance(expires, bool) or not isinstance(expires, int) or not 0 < expires < _MAX_UNIX
    ):
        abort(400, description="'expires' must be a Unix time in seconds.")
    if qr not in ("none", "png", "svg"):
        abort(400, description="'qr' must be one of: none, png, svg.")
    return token, codes, expires, qr


def _qr(url: str, kind: str) -> str | None:
    if kind == "svg":
        return qr_svg(url).decode()
    if kind == "png":
        return base64.b64encode(qr_png(url)).decode("ascii")
    return None


@bp.post("/receipt-links")
@operation(
    Operation(
        "mintReceiptLinks",
        "Signed receipt links (and QR codes) for dossier codes of one desk: for the one-stop "
        "software to print on receipts. Administrators, and unit officers for their own desks.",
        RECEIPT_LINKS,
        errors=(*AUTHED, "403", "404"),
        body=RECEIPT_REQUEST,
    )
)
def receipt_links() -> Any:
    ensure_may_mint(api_user())
    token, codes, expires, qr = _receipt_request()
    links = mint_receipt_links(api_user(), token, codes, expires)
    return jsonify(
        RECEIPT_LINKS(
            links=[RECEIPT_LINK(code=code, url=url, qr=_qr(url, qr)) for code, url in links]
        )
    )
