"""A questionnaire version as plain frozen data, for validating answers without the ORM.

An open round's version is frozen and never changes, so its snapshot is cached per process: the
citizen's submit path then costs no query for the questionnaire. Draft versions (previews) are
read afresh every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from survey.extensions import db
from survey.models import Item, TemplateVersion

T = TypeVar("T")
KEPT_SIZE = 1024


def kept_while_frozen(
    version: TemplateVersion, what: str, build: Callable[[], T], *extra: Hashable
) -> T:
    """``build()`` for ``version``, kept per application (under ``what`` and ``extra``) once the
    version is frozen: it can no longer change, and walking its aspects, elements and items
    costs a dozen queries. A draft's is built every time."""
    if version.frozen_at is None:
        return build()
    kept: dict[tuple[object, ...], object] = current_app.extensions.setdefault(
        "hailong_frozen_versions", {}
    )
    key = (what, version.id, version.frozen_at, *extra)
    if key not in kept:
        if len(kept) >= KEPT_SIZE:
            kept.clear()
        kept[key] = build()
    return kept[key]  # type: ignore[return-value]  # what build() returned for this key


@dataclass(frozen=True)
class ItemSpec:
    id: int
    code: str
    scale: str
    role: str
    required: bool
    allow_na: bool
    max_choices: int | None
    text: str
    text_en: str
    element_id: int | None
    points_: tuple[tuple[int, str, str], ...]
    condition_item_id: int | None
    condition_values: tuple[int, ...]

    def points(self) -> tuple[tuple[int, str, str], ...]:
        """The answer values with their Vietnamese and English labels."""
        return self.points_


@dataclass(frozen=True)
class QuestionnaireSpec:
    version_id: int
    items: tuple[ItemSpec, ...]


def _snapshot(version_id: int) -> QuestionnaireSpec:
    items = db.session.scalars(
        select(Item)
        .where(Item.version_id == version_id)
        .order_by(Item.position, Item.id)
        .options(selectinload(Item.options))
    ).all()
    return QuestionnaireSpec(
        version_id,
        tuple(
            ItemSpec(
                id=i.id,
                code=i.code,
                scale=i.scale,
                role=i.role,
                required=i.required,
                allow_na=i.allow_na,
                max_choices=i.max_choices,
                text=i.text,
                text_en=i.text_en,
                element_id=i.element_id,
                points_=tuple(i.points()),
                condition_item_id=i.condition_item_id,
                condition_values=tuple(i.condition_values or ()),
            )
            for i in items
        ),
    )


@lru_cache(maxsize=64)
def _frozen_snapshot(version_id: int, frozen_at: datetime) -> QuestionnaireSpec:
    return _snapshot(version_id)


def questionnaire_spec(version: TemplateVersion) -> QuestionnaireSpec:
    return spec_of_version(version.id, version.frozen_at)


def spec_of_version(version_id: int, frozen_at: datetime | None) -> QuestionnaireSpec:
    if frozen_at is not None:
        return _frozen_snapshot(version_id, frozen_at)
    return _snapshot(version_id)
