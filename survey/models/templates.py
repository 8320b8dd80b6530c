"""Questionnaire templates with versions: aspect -> element -> item.

Questionnaires are data. A version is frozen when the first round that uses it opens, and from
then on neither it nor its aspects, elements, items or options may change: published numbers must
stay reproducible from the instrument that collected them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from survey.errors import TemplateFrozenError
from survey.models.base import Base, utcnow


class Scale(enum.StrEnum):
    SAT5 = "sat5"  # 1 Rất không hài lòng .. 5 Rất hài lòng
    LEVEL4 = "level4"  # 4-level interest / suitability / expectation scales of the 2023 method
    ONESTOP3 = "onestop3"  # Decree 61/2018: Không hài lòng / Hài lòng / Rất hài lòng
    YESNO = "yesno"
    # An indicator of the official scoring of one dossier (Decree 61/2018, Circular 01/2018):
    # 2, 1 or 0 points, each item wording its three levels.
    POINTS210 = "points210"
    CHOICE = "choice"  # choose up to N of the item's options
    TEXT = "text"


class ItemRole(enum.StrEnum):
    CRITERION = "criterion"  # counts in the element index
    OVERALL = "overall"  # reported beside the index, never mixed into it
    PRIORITIES = "priorities"
    COMMENT = "comment"
    OTHER = "other"


class IndexDefinition(enum.StrEnum):
    TOP2BOX = "top2box"  # weighted share answering a satisfied value, percent
    MEAN = "mean"  # weighted mean score on the scale
    MEAN_PCT = "mean_pct"  # mean / max x 100, as some provinces publish


# (value, Vietnamese label, English label), in the order shown to citizens.
SCALE_POINTS: dict[Scale, tuple[tuple[int, str, str], ...]] = {
    Scale.SAT5: (
        (1, "Rất không hài lòng", "Very dissatisfied"),
        (2, "Không hài lòng", "Dissatisfied"),
        (3, "Bình thường", "Neutral"),
        (4, "Hài lòng", "Satisfied"),
        (5, "Rất hài lòng", "Very satisfied"),
    ),
    Scale.LEVEL4: (
        (1, "Hoàn toàn không", "Not at all"),
        (2, "Ít", "A little"),
        (3, "Khá", "Fairly"),
        (4, "Rất", "Very"),
    ),
    Scale.ONESTOP3: (
        (1, "Không hài lòng", "Dissatisfied"),
        (2, "Hài lòng", "Satisfied"),
        (3, "Rất hài lòng", "Very satisfied"),
    ),
    Scale.YESNO: ((1, "Có", "Yes"), (0, "Không", "No")),
    Scale.POINTS210: (
        (2, "2 điểm", "2 points"),
        (1, "1 điểm", "1 point"),
        (0, "0 điểm", "0 points"),
    ),
}

DEFAULT_SATISFIED: dict[Scale, tuple[int, ...]] = {
    Scale.SAT5: (4, 5),
    Scale.LEVEL4: (3, 4),
    Scale.ONESTOP3: (2, 3),
    Scale.YESNO: (1,),
    Scale.POINTS210: (2,),
}

SCALE_VALUES = ", ".join(f"'{s.value}'" for s in Scale)
ROLE_VALUES = ", ".join(f"'{r.value}'" for r in ItemRole)
INDEX_VALUES = ", ".join(f"'{d.value}'" for d in IndexDefinition)


def labelled_points(scale: str, labels: list[list[Any]] | None) -> tuple[tuple[int, str, str], ...]:
    """The points of ``scale`` with an item's own labels where it has them. An item's missing
    English label stays empty, so that English pages fall back to its Vietnamese wording rather
    than to the scale's English, which may say something else."""
    points = SCALE_POINTS.get(Scale(scale), ())
    if not labels:
        return points
    own = {int(value): (str(vi), str(en)) for value, vi, en in labels}
    return tuple((value, *own.get(value, (vi, en))) for value, vi, en in points)


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[TemplateVersion]] = relationship(
        back_populates="template", order_by="TemplateVersion.number"
    )


class TemplateVersion(Base):
    __tablename__ = "template_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "number"),
        CheckConstraint(f"index_definition IN ({INDEX_VALUES})", name="index_definition"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint(
            "default_target IS NULL OR (default_target >= 0 AND default_target <= 100)",
            name="default_target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    intro: Mapped[str] = mapped_column(Text, default="")
    intro_en: Mapped[str] = mapped_column(Text, default="")
    index_definition: Mapped[str] = mapped_column(String(16), default=IndexDefinition.TOP2BOX)
    # The target (percent) rounds on this version are usually held to: a round launched from it
    # starts with this target; NULL leaves the province's default.
    default_target: Mapped[float | None]
    # Scores summed per response, as data: [{"code", "name", "name_en", "items": [item codes]}],
    # for example the official dossier score of the one-stop form (nine 2/1/0 indicators).
    scores: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    frozen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    template: Mapped[Template] = relationship(back_populates="versions")
    aspects: Mapped[list[Aspect]] = relationship(
        back_populates="version", order_by="Aspect.position", cascade="all, delete-orphan"
    )
    items: Mapped[list[Item]] = relationship(
        back_populates="version", order_by="Item.position", cascade="all, delete-orphan"
    )

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class Aspect(Base):
    __tablename__ = "aspects"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")

    version: Mapped[TemplateVersion] = relationship(back_populates="aspects")
    elements: Mapped[list[Element]] = relationship(
        back_populates="aspect", order_by="Element.position", cascade="all, delete-orphan"
    )


class Element(Base):
    __tablename__ = "elements"
    __table_args__ = (UniqueConstraint("aspect_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    aspect_id: Mapped[int] = mapped_column(ForeignKey("aspects.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")

    aspect: Mapped[Aspect] = relationship(back_populates="elements")
    items: Mapped[list[Item]] = relationship(back_populates="element", order_by="Item.position")


class Item(Base):
    """One question. Criteria belong to an element; the overall question, priorities and comment
    stand outside the element tree."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("version_id", "code"),
        CheckConstraint(f"scale IN ({SCALE_VALUES})", name="scale"),
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role"),
        CheckConstraint("role <> 'criterion' OR element_id IS NOT NULL", name="criterion_element"),
        CheckConstraint("max_choices IS NULL OR max_choices >= 1", name="max_choices"),
        CheckConstraint(
            "condition_item_id IS NULL OR condition_item_id <> id", name="not_own_condition"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"), index=True)
    element_id: Mapped[int | None] = mapped_column(ForeignKey("elements.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text, default="")
    scale: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16), default=ItemRole.CRITERION)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_na: Mapped[bool] = mapped_column(Boolean, default=False)
    max_choices: Mapped[int | None]
    satisfied_values: Mapped[list[int]] = mapped_column(JSON, default=list)
    # Shown and asked only when the answer to condition_item is one of condition_values.
    condition_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    condition_values: Mapped[list[int] | None] = mapped_column(JSON)
    # The item's own wording of its scale points, [[value, Vietnamese, English], ...] in the
    # scale's order; NULL: the scale's labels (SCALE_POINTS).
    scale_labels: Mapped[list[list[Any]] | None] = mapped_column(JSON)

    version: Mapped[TemplateVersion] = relationship(back_populates="items")
    element: Mapped[Element | None] = relationship(back_populates="items")
    condition_item: Mapped[Item | None] = relationship(remote_side=[id])
    options: Mapped[list[ItemOption]] = relationship(
        back_populates="item", order_by="ItemOption.position", cascade="all, delete-orphan"
    )

    def points(self) -> tuple[tuple[int, str, str], ...]:
        """The answer values with their labels: the item's options, its own wording of its
        scale, or the scale's."""
        if self.scale == Scale.CHOICE:
            return tuple((o.value, o.label, o.label_en) for o in self.options)
        return labelled_points(self.scale, self.scale_labels)


class ItemOption(Base):
    """An option of a choose-up-to-N item (for example an area to improve first)."""

    __tablename__ = "item_options"
    __table_args__ = (UniqueConstraint("item_id", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    value: Mapped[int]
    position: Mapped[int] = mapped_column(default=0)
    label: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str] = mapped_column(String(300), default="")

    item: Mapped[Item] = relationship(back_populates="options")


def _owning_version(obj: Any) -> TemplateVersion | None:
    if isinstance(obj, TemplateVersion):
        return obj
    if isinstance(obj, Aspect | Item):
        return obj.version
    if isinstance(obj, Element):
        return obj.aspect.version if obj.aspect is not None else None
    if isinstance(obj, ItemOption):
        return obj.item.version if obj.item is not None else None
    return None


@event.listens_for(Session, "before_flush")
def _refuse_changes_to_frozen_versions(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        version = _owning_version(obj)
        if version is None or not version.is_frozen:
            continue
        if obj is version and obj in session.dirty:
            # Freezing itself is the one change allowed: frozen_at goes from None to a time.
            if session.is_modified(obj, include_collections=False) and not _only_freezing(obj):
                raise TemplateFrozenError(version)
            continue
        if obj in session.dirty and not session.is_modified(obj, include_collections=False):
            continue
        raise TemplateFrozenError(version)


def _only_freezing(version: TemplateVersion) -> bool:
    state = inspect(version)
    changed = [attr.key for attr in state.attrs if attr.history.has_changes()]
    if changed != ["frozen_at"]:
        return False
    deleted = list(state.attrs.frozen_at.history.deleted)
    return bool(deleted) and deleted[0] is None
