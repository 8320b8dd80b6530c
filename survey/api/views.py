"""API views: thin readers over the services, JSON out. The OpenAPI document in
``survey.api.openapi`` describes every route, parameter and answer here; keep them together."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask import abort, jsonify, request

from analysis.satisfaction import IndexDefinition, IndexKind, Level
from survey.api import bp
from survey.api.auth import api_user
from survey.api.openapi import MAX_ID, MAX_PAGE, MAX_PER_PAGE, PER_PAGE, openapi_document
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
from survey.services.rounds.lifecycle import rounds_for, visible_round

# Ids are 32-bit on every table the API reads by id; a larger number is simply not found
# (PostgreSQL would refuse it as a parameter, which must not become a 500).
ID = f"int(max={MAX_ID})"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def _single(name: str) -> str | None:
    """The query parameter ``name`` given once, or None when absent; given twice (or empty) it
    is malformed: guessing which value was meant would answer a question nobody asked."""
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        abort(400, description=f"'{name}' is given more than once.")
    return values[0]


def _int_arg(name: str, maximum: int) -> int | None:
    """The query parameter ``name`` as a whole number from 1 to ``maximum``; None when absent;
    anything else is a 400, never a 500."""
    raw = _single(name)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 1 <= int(raw) <= maximum:
        abort(400, description=f"'{name}' must be a whole number from 1 to {maximum}.")
    return int(raw)


def _paging() -> tuple[int, int]:
    return _int_arg("page", MAX_PAGE) or 1, _int_arg("per_page", MAX_PER_PAGE) or PER_PAGE


def _listing(page: Page[Any], items: list[dict[str, Any]]) -> Any:
    return jsonify(
        items=items, page=page.page, per_page=page.per_page, total=page.total, pages=page.pages
    )


def _round(round_: Round, unit_ids: set[int] | None) -> dict[str, Any]:
    return {
        "id": round_.id,
        "name": round_.name,
        "state": round_.state,
        "opens_at": _iso(round_.opens_at),
        "closes_at": _iso(round_.closes_at),
        "opened_at": _iso(round_.opened_at),
        "closed_at": _iso(round_.closed_at),
        "published_at": _iso(round_.published_at),
        "is_public": round_.is_public,
        "template_version_id": round_.template_version_id,
        "unit_ids": scope_ids(round_, unit_ids),
    }


def _unit(unit: Unit) -> dict[str, Any]:
    return {
        "id": unit.id,
        "code": unit.code,
        "name": unit.name,
        "level": unit.level_code,
        "parent_id": unit.parent_id,
        "is_active": unit.is_active,
        "successor_id": unit.successor_id,
        "service_area_ids": [a.id for a in unit.service_areas],
    }


def _area(area: ServiceArea) -> dict[str, Any]:
    return {
        "id": area.id,
        "code": area.code,
        "name": area.name,
        "name_en": area.name_en,
        "is_active": area.is_active,
    }


def _response(response: Response, texts: dict[int, str], codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": response.id,
        "unit_id": response.unit_id,
        "service_area_id": response.service_area_id,
        "desk_id": response.desk_id,
        "received_at": _iso(response.received_at),
        "channel": response.channel,
        "locale": response.locale,
        "answers": [
            {
                "item_id": a.item_id,
                "item_code": codes.get(a.item_id),
                "value": a.value,
                "not_applicable": a.not_applicable,
                # Only approved comments, masked; pending and hidden ones are withheld.
                "text": texts.get(a.id),
            }
            for a in sorted(response.answers, key=lambda a: (a.item_id, a.value or 0))
        ],
    }


@bp.get("/status")
def status() -> Any:
    return jsonify(status="ok", api="v1")


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document())


@bp.get("/rounds")
def rounds() -> Any:
    unit_ids = visible_unit_ids(api_user())
    page = rounds_page(rounds_for(unit_ids), *_paging())
    return _listing(page, [_round(r, unit_ids) for r in page.items])


@bp.get(f"/rounds/<{ID}:round_id>")
def round_detail(round_id: int) -> Any:
    unit_ids = visible_unit_ids(api_user())
    round_ = visible_round(round_id, unit_ids)
    body = _round(round_, unit_ids)
    names = round_unit_names(round_)
    body["units"] = [{"id": uid, "name": names[uid]} for uid in body["unit_ids"]]
    return jsonify(body)


@bp.get(f"/rounds/<{ID}:round_id>/responses")
def round_responses(round_id: int) -> Any:
    user = api_user()
    if user.role == Role.UNIT_OFFICER:
        # Aggregates only: the clerk who served a citizen could tie a single response (desk,
        # time to the second, answers) to that person, which the console refuses them too.
        abort(403, description="Unit officers read aggregated figures only, not responses.")
    unit_ids = visible_unit_ids(user)
    round_ = visible_round(round_id, unit_ids)
    unit_id = _int_arg("unit_id", MAX_ID)
    if unit_id is not None:
        ensure_unit_visible(user, unit_id)
    page = responses_page(round_, unit_ids, *_paging(), unit_id=unit_id)
    texts, codes = approved_texts(page.items), item_codes(round_)
    return _listing(page, [_response(r, texts, codes) for r in page.items])


def _choice(name: str, choices: type[StrEnum]) -> Any:
    raw = _single(name)
    if raw is None:
        return None
    try:
        return choices(raw)
    except ValueError:
        allowed = ", ".join(c.value for c in choices)
        abort(400, description=f"'{name}' must be one of: {allowed}.")


@bp.get(f"/rounds/<{ID}:round_id>/indices")
def round_indices(round_id: int) -> Any:
    """The round's index table: estimate, SE, interval, n, design effect and flags per index
    and domain, from the same estimation as the console's result pages."""
    unit_ids = visible_unit_ids(api_user())
    round_ = visible_round(round_id, unit_ids)
    level = _choice("level", Level)
    if level == Level.DESK:  # not computed for the API: desks are a console drill-down
        abort(400, description="'level' must be one of: province, unit, area, cell.")
    kind = _choice("kind", IndexKind)
    measure = _choice("measure", IndexDefinition)
    rows = index_rows(
        round_, unit_ids, *_paging(), level=level, kind=kind, measure=measure and measure.value
    )
    page = rows.page
    return jsonify(
        round_id=round_.id,
        confidence=rows.confidence,
        headline=rows.headline,
        caveat_vi=rows.caveat_vi,
        caveat_en=rows.caveat_en,
        items=page.items,
        page=page.page,
        per_page=page.per_page,
        total=page.total,
        pages=page.pages,
    )


@bp.get("/units")
def units() -> Any:
    page = units_page(visible_unit_ids(api_user()), *_paging())
    return _listing(page, [_unit(u) for u in page.items])


@bp.get(f"/units/<{ID}:unit_id>")
def unit_detail(unit_id: int) -> Any:
    return jsonify(_unit(visible_unit(unit_id, visible_unit_ids(api_user()))))


@bp.get("/service-areas")
def service_areas() -> Any:
    page = areas_page(*_paging())
    return _listing(page, [_area(a) for a in page.items])
