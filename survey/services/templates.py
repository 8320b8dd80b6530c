"""Questionnaire templates: loading them from their JSON description, and freezing versions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any

from sqlalchemy import func, select

from survey.errors import DomainError
from survey.extensions import db
from survey.models import (
    Aspect,
    Element,
    IndexDefinition,
    Item,
    ItemOption,
    ItemRole,
    Scale,
    Template,
    TemplateVersion,
)
from survey.models.templates import DEFAULT_SATISFIED

STARTER_TEMPLATES = ("sipas.json", "one_stop.json")


class TemplateDefinitionError(DomainError):
    code = "bad_template"


def _item(version: TemplateVersion, raw: Mapping[str, Any], position: int) -> Item:
    try:
        scale = Scale(raw["scale"])
        role = ItemRole(raw.get("role", ItemRole.CRITERION))
    except (KeyError, ValueError) as exc:
        raise TemplateDefinitionError(
            f"item {raw.get('code')!r}: bad scale or role ({exc})"
        ) from exc
    satisfied = raw.get("satisfied_values", list(DEFAULT_SATISFIED.get(scale, ())))
    item = Item(
        code=str(raw["code"]),
        position=position,
        text=str(raw["text"]),
        text_en=str(raw.get("text_en", "")),
        scale=scale.value,
        role=role.value,
        required=bool(raw.get("required", False)),
        allow_na=bool(raw.get("allow_na", False)),
        max_choices=raw.get("max_choices"),
        satisfied_values=[int(v) for v in satisfied],
    )
    for pos, (value, label, label_en) in enumerate(raw.get("options", [])):
        item.options.append(
            ItemOption(value=int(value), position=pos, label=label, label_en=label_en)
        )
    if scale == Scale.CHOICE and not item.options:
        raise TemplateDefinitionError(f"item {item.code!r}: a choice item needs options")
    # Appended through the parent's collection: SQLAlchemy 2 no longer cascades along backrefs.
    version.items.append(item)
    return item


def import_template(data: Mapping[str, Any], *, now: datetime) -> TemplateVersion:
    """Create a template (or a new version of an existing one, by code) from its JSON form."""
    template = db.session.scalar(select(Template).where(Template.code == data["code"]))
    if template is None:
        template = Template(code=data["code"], name=data["name"], name_en=data.get("name_en", ""))
        db.session.add(template)
        db.session.flush()
    number = (
        db.session.scalar(
            select(func.max(TemplateVersion.number)).where(
                TemplateVersion.template_id == template.id
            )
        )
        or 0
    ) + 1
    raw_version = data["version"]
    version = TemplateVersion(
        template=template,
        number=number,
        title=raw_version["title"],
        title_en=raw_version.get("title_en", ""),
        intro=raw_version.get("intro", ""),
        intro_en=raw_version.get("intro_en", ""),
        index_definition=IndexDefinition(
            raw_version.get("index_definition", IndexDefinition.TOP2BOX)
        ).value,
        created_at=now,
    )
    db.session.add(version)
    position = 0
    by_code: dict[str, Item] = {}
    conditions: list[tuple[Item, Mapping[str, Any]]] = []
    for a_pos, raw_aspect in enumerate(raw_version.get("aspects", [])):
        aspect = Aspect(
            code=raw_aspect["code"],
            position=a_pos,
            name=raw_aspect["name"],
            name_en=raw_aspect.get("name_en", ""),
        )
        version.aspects.append(aspect)
        for e_pos, raw_element in enumerate(raw_aspect.get("elements", [])):
            element = Element(
                code=raw_element["code"],
                position=e_pos,
                name=raw_element["name"],
                name_en=raw_element.get("name_en", ""),
            )
            aspect.elements.append(element)
            for raw_item in raw_element.get("items", []):
                item = _item(version, raw_item, position)
                item.element = element
                position += 1
                by_code[item.code] = item
                if "condition" in raw_item:
                    conditions.append((item, raw_item["condition"]))
    for raw_item in raw_version.get("items", []):
        item = _item(version, raw_item, position)
        position += 1
        by_code[item.code] = item
        if "condition" in raw_item:
            conditions.append((item, raw_item["condition"]))
    for item, condition in conditions:
        target = by_code.get(condition["item"])
        if target is None:
            raise TemplateDefinitionError(
                f"item {item.code!r}: condition on unknown item {condition['item']!r}"
            )
        item.condition_item = target
        item.condition_values = [int(v) for v in condition["values"]]
    db.session.flush()
    return version


def load_starter_templates(*, now: datetime) -> list[TemplateVersion]:
    """Load the shipped templates, skipping any whose code already exists."""
    loaded = []
    for name in STARTER_TEMPLATES:
        data = json.loads(
            resources.files("survey.starter_templates").joinpath(name).read_text("utf-8")
        )
        exists = db.session.scalar(select(Template.id).where(Template.code == data["code"]))
        if exists is None:
            loaded.append(import_template(data, now=now))
    return loaded


def latest_version(template_code: str) -> TemplateVersion | None:
    return db.session.scalar(
        select(TemplateVersion)
        .join(Template)
        .where(Template.code == template_code)
        .order_by(TemplateVersion.number.desc())
        .limit(1)
    )


def freeze_version(version: TemplateVersion, *, now: datetime) -> None:
    if version.frozen_at is None:
        version.frozen_at = now
        db.session.flush()
