"""Editing a draft questionnaire version: its settings, aspects, elements and items.

Each function checks the change against the rules of
``survey.services.questionnaires.templates`` before touching anything, raises
``TemplateInputError`` (by form field) when it breaks one, flushes, and records an audit event
with the values before and after. Checks that depend on where things end up (a condition must
point to an earlier item) run after the change is flushed; the view then rolls the whole request
back, so nothing is ever half-saved.

Order is the one citizens see: aspects, their elements, the elements' items, then the items
outside any element. ``Item.position`` is renumbered along that order after every change, so the
answer form's single pass over items by position meets every condition's item first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from survey.errors import NotFoundError, TemplateFrozenError
from survey.extensions import db
from survey.models import (
    Aspect,
    Element,
    IndexDefinition,
    Item,
    ItemOption,
    Scale,
    Template,
    TemplateVersion,
    User,
)
from survey.services.audit import record_event
from survey.services.questionnaires.templates import (
    MAX_ITEMS,
    TemplateInputError,
    condition_value_problems,
    item_rule_problems,
    scale_values,
)

Direction = Literal["up", "down"]
LAST = 1_000_000  # a position after every other, until the renumbering


# --- What the forms describe ---------------------------------------------------------------------


@dataclass(frozen=True)
class VersionDraft:
    title: str
    title_en: str
    intro: str
    intro_en: str
    index_definition: str
    # The target (percent) rounds on this version start with; None: the province's default.
    default_target: float | None = None


@dataclass(frozen=True)
class AspectDraft:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class ElementDraft:
    aspect_id: int
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class ItemDraft:
    code: str
    text: str
    text_en: str
    scale: str
    role: str
    element_id: int | None
    required: bool
    allow_na: bool
    max_choices: int | None
    satisfied_values: tuple[int, ...]
    options: tuple[tuple[int, str, str], ...]
    condition_item_id: int | None
    condition_values: tuple[int, ...]
    # The item's own wording of its scale points (value, Vietnamese, English); empty: the scale's.
    scale_labels: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True)
class NewTemplateDraft:
    code: str
    name: str
    name_en: str
    title: str
    title_en: str


# --- Finding the parts of a version --------------------------------------------------------------


def ensure_draft(version: TemplateVersion) -> None:
    if version.is_frozen:
        raise TemplateFrozenError(version)


def aspect_of(version: TemplateVersion, aspect_id: int) -> Aspect:
    aspect = db.session.scalar(
        select(Aspect).where(Aspect.id == aspect_id, Aspect.version_id == version.id)
    )
    if aspect is None:
        raise NotFoundError(str(_l("Không tìm thấy khía cạnh này trong phiên bản.")))
    return aspect


def element_of(version: TemplateVersion, element_id: int) -> Element:
    element = db.session.scalar(
        select(Element)
        .join(Aspect)
        .where(Element.id == element_id, Aspect.version_id == version.id)
    )
    if element is None:
        raise NotFoundError(str(_l("Không tìm thấy yếu tố này trong phiên bản.")))
    return element


def item_of(version: TemplateVersion, item_id: int) -> Item:
    item = db.session.scalar(select(Item).where(Item.id == item_id, Item.version_id == version.id))
    if item is None:
        raise NotFoundError(str(_l("Không tìm thấy câu hỏi này trong phiên bản.")))
    return item


@dataclass(frozen=True)
class EditorChoices:
    """What an item form offers: the version's elements and its items, in display order."""

    elements: list[Element]
    items: list[Item]


def editor_choices(version: TemplateVersion) -> EditorChoices:
    elements = [e for a in version.aspects for e in a.elements]
    return EditorChoices(elements, ordered_items(version))


def _display_key(version: TemplateVersion) -> Any:
    """Sort key of (element id, position, id): items of elements in element order, then the
    items outside any element."""
    rank = {e.id: n for n, e in enumerate(e for a in version.aspects for e in a.elements)}

    def key(element_id: int | None, position: int, item_id: int) -> tuple[int, int, int, int]:
        if element_id in rank:
            return (0, rank[element_id], position, item_id)
        return (1, 0, position, item_id)

    return key


def ordered_items(version: TemplateVersion) -> list[Item]:
    """The version's items in the order citizens see them."""
    key = _display_key(version)
    return sorted(version.items, key=lambda i: key(i.element_id, i.position, i.id or 0))


def dependents(item: Item) -> list[Item]:
    """Items shown only when ``item`` was answered a certain way."""
    return list(
        db.session.scalars(
            select(Item).where(Item.condition_item_id == item.id).order_by(Item.position)
        )
    )


# --- Snapshots for the audit trail ---------------------------------------------------------------


def version_snapshot(version: TemplateVersion) -> dict[str, Any]:
    return {
        "title": version.title,
        "title_en": version.title_en,
        "intro": version.intro,
        "intro_en": version.intro_en,
        "index_definition": version.index_definition,
        "default_target": version.default_target,
    }


def aspect_snapshot(aspect: Aspect) -> dict[str, Any]:
    return {
        "version_id": aspect.version_id,
        "code": aspect.code,
        "name": aspect.name,
        "name_en": aspect.name_en,
        "position": aspect.position,
    }


def element_snapshot(element: Element) -> dict[str, Any]:
    return {
        "aspect": element.aspect.code,
        "code": element.code,
        "name": element.name,
        "name_en": element.name_en,
        "position": element.position,
    }


def item_snapshot(item: Item) -> dict[str, Any]:
    condition = None
    if item.condition_item is not None:
        condition = {"item": item.condition_item.code, "values": list(item.condition_values or [])}
    return {
        "version_id": item.version_id,
        "code": item.code,
        "text": item.text,
        "text_en": item.text_en,
        "scale": item.scale,
        "role": item.role,
        "element": item.element.code if item.element is not None else None,
        "required": item.required,
        "allow_na": item.allow_na,
        "max_choices": item.max_choices,
        "satisfied_values": list(item.satisfied_values or []),
        "scale_labels": [list(point) for point in item.scale_labels or []],
        "options": [
            [o.value, o.label, o.label_en] for o in sorted(item.options, key=lambda o: o.position)
        ],
        "condition": condition,
        "position": item.position,
    }


def _audit(
    action: str,
    entity: TemplateVersion | Aspect | Element | Item,
    *,
    now: datetime,
    actor: User,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    entity_type = {
        TemplateVersion: "template_version",
        Aspect: "aspect",
        Element: "element",
        Item: "item",
    }[type(entity)]
    record_event(
        action=action,
        entity_type=entity_type,
        entity_id=entity.id,
        now=now,
        actor=actor,
        before=before,
        after=after,
    )


# --- A new template, and the version's settings --------------------------------------------------


def create_template(draft: NewTemplateDraft, *, now: datetime, actor: User) -> TemplateVersion:
    """A new template with an empty draft version 1."""
    exists = db.session.scalar(
        select(Template.id).where(func.lower(Template.code) == draft.code.lower())
    )
    if exists is not None:
        raise TemplateInputError({"code": [_l("Đã có phiếu khảo sát với mã này.")]})
    template = Template(code=draft.code, name=draft.name, name_en=draft.name_en, created_at=now)
    version = TemplateVersion(
        template=template,
        number=1,
        title=draft.title,
        title_en=draft.title_en,
        index_definition=IndexDefinition.TOP2BOX.value,
        created_at=now,
    )
    db.session.add_all([template, version])
    db.session.flush()
    record_event(
        action="template.create",
        entity_type="template_version",
        entity_id=version.id,
        now=now,
        actor=actor,
        after={"template": template.code, "name": template.name, "number": 1},
    )
    return version


def update_version(
    version: TemplateVersion, draft: VersionDraft, *, now: datetime, actor: User
) -> TemplateVersion:
    ensure_draft(version)
    if draft.index_definition not in set(IndexDefinition):
        raise TemplateInputError({"index_definition": [_l("Chọn một cách tính chỉ số.")]})
    if draft.default_target is not None and not 0 <= draft.default_target <= 100:
        raise TemplateInputError(
            {"default_target": [_l("Chỉ tiêu là một tỷ lệ phần trăm từ 0 đến 100.")]}
        )
    before = version_snapshot(version)
    version.title = draft.title
    version.title_en = draft.title_en
    version.intro = draft.intro
    version.intro_en = draft.intro_en
    version.index_definition = draft.index_definition
    version.default_target = draft.default_target
    db.session.flush()
    after = version_snapshot(version)
    if after != before:
        _audit("template.version.update", version, now=now, actor=actor, before=before, after=after)
    return version


# --- Aspects -------------------------------------------------------------------------------------


def _code_taken(existing: Sequence[str], code: str) -> bool:
    return code.lower() in {c.lower() for c in existing}


def add_aspect(
    version: TemplateVersion, draft: AspectDraft, *, now: datetime, actor: User
) -> Aspect:
    ensure_draft(version)
    if _code_taken([a.code for a in version.aspects], draft.code):
        raise TemplateInputError({"code": [_l("Phiên bản này đã có khía cạnh với mã này.")]})
    _refuse_element_code(version, draft.code)
    aspect = Aspect(code=draft.code, name=draft.name, name_en=draft.name_en, position=LAST)
    version.aspects.append(aspect)
    renumber(version)
    _audit("template.aspect.create", aspect, now=now, actor=actor, after=aspect_snapshot(aspect))
    return aspect


def update_aspect(aspect: Aspect, draft: AspectDraft, *, now: datetime, actor: User) -> Aspect:
    version = aspect.version
    ensure_draft(version)
    others = [a.code for a in version.aspects if a is not aspect]
    if _code_taken(others, draft.code):
        raise TemplateInputError({"code": [_l("Phiên bản này đã có khía cạnh với mã này.")]})
    _refuse_element_code(version, draft.code)
    before = aspect_snapshot(aspect)
    aspect.code, aspect.name, aspect.name_en = draft.code, draft.name, draft.name_en
    db.session.flush()
    after = aspect_snapshot(aspect)
    if after != before:
        _audit("template.aspect.update", aspect, now=now, actor=actor, before=before, after=after)
    return aspect


def _refuse_element_code(version: TemplateVersion, code: str) -> None:
    # Aspect and element indices share one column of the result tables: one code, one index.
    if _code_taken([e.code for a in version.aspects for e in a.elements], code):
        raise TemplateInputError(
            {"code": [_l("Phiên bản này đã có yếu tố với mã này; khía cạnh cần mã khác.")]}
        )


def aspect_delete_refusal(aspect: Aspect) -> str | None:
    """Why the aspect cannot be deleted, or None when it can."""
    if aspect.elements:
        return str(
            _l(
                "Khía cạnh còn %(n)s yếu tố: chuyển hoặc xoá các yếu tố trước.",
                n=len(aspect.elements),
            )
        )
    return None


def delete_aspect(aspect: Aspect, *, now: datetime, actor: User) -> None:
    version = aspect.version
    ensure_draft(version)
    refusal = aspect_delete_refusal(aspect)
    if refusal:
        raise TemplateInputError({"__all__": [refusal]})
    before = aspect_snapshot(aspect)
    _audit("template.aspect.delete", aspect, now=now, actor=actor, before=before)
    db.session.delete(aspect)
    renumber(version)


# --- Elements ------------------------------------------------------------------------------------


def _element_problems(
    version: TemplateVersion, draft: ElementDraft, current: Element | None
) -> tuple[Aspect | None, dict[str, list[object]]]:
    problems: dict[str, list[object]] = {}
    aspect = next((a for a in version.aspects if a.id == draft.aspect_id), None)
    if aspect is None:
        problems["aspect_id"] = [_l("Chọn một khía cạnh của phiên bản này.")]
    others = [e.code for a in version.aspects for e in a.elements if e is not current]
    if _code_taken(others, draft.code):
        problems["code"] = [_l("Phiên bản này đã có yếu tố với mã này.")]
    elif _code_taken([a.code for a in version.aspects], draft.code):
        # Aspect and element indices share one column of the result tables.
        problems["code"] = [_l("Phiên bản này đã có khía cạnh với mã này; yếu tố cần mã khác.")]
    return aspect, problems


def add_element(
    version: TemplateVersion, draft: ElementDraft, *, now: datetime, actor: User
) -> Element:
    ensure_draft(version)
    aspect, problems = _element_problems(version, draft, None)
    if problems or aspect is None:
        raise TemplateInputError(problems)
    element = Element(code=draft.code, name=draft.name, name_en=draft.name_en, position=LAST)
    aspect.elements.append(element)
    renumber(version)
    _audit(
        "template.element.create", element, now=now, actor=actor, after=element_snapshot(element)
    )
    return element


def update_element(element: Element, draft: ElementDraft, *, now: datetime, actor: User) -> Element:
    """Rename an element, or move it (last) into another aspect, which moves its items."""
    version = element.aspect.version
    ensure_draft(version)
    aspect, problems = _element_problems(version, draft, element)
    if problems or aspect is None:
        raise TemplateInputError(problems)
    before = element_snapshot(element)
    element.code, element.name, element.name_en = draft.code, draft.name, draft.name_en
    if aspect is not element.aspect:
        element.aspect = aspect
        element.position = LAST
    order = renumber(version)
    _raise_condition_problems(order, moved_field="aspect_id", focus=element.items)
    after = element_snapshot(element)
    if after != before:
        _audit("template.element.update", element, now=now, actor=actor, before=before, after=after)
    return element


def element_delete_refusal(element: Element) -> str | None:
    if element.items:
        return str(
            _l(
                "Yếu tố còn %(n)s câu hỏi: chuyển hoặc xoá các câu hỏi trước.",
                n=len(element.items),
            )
        )
    return None


def delete_element(element: Element, *, now: datetime, actor: User) -> None:
    version = element.aspect.version
    ensure_draft(version)
    refusal = element_delete_refusal(element)
    if refusal:
        raise TemplateInputError({"__all__": [refusal]})
    _audit(
        "template.element.delete", element, now=now, actor=actor, before=element_snapshot(element)
    )
    db.session.delete(element)
    renumber(version)


# --- Items ---------------------------------------------------------------------------------------


def _item_problems(
    version: TemplateVersion, draft: ItemDraft, current: Item | None
) -> tuple[Element | None, Item | None, dict[str, list[object]]]:
    """Everything wrong with ``draft`` that can be told before it is applied."""
    problems: dict[str, list[object]] = {}

    def add(field: str, message: object) -> None:
        problems.setdefault(field, []).append(message)

    others = [i for i in version.items if i is not current]
    if _code_taken([i.code for i in others], draft.code):
        add("code", _l("Phiên bản này đã có câu hỏi với mã này (không phân biệt chữ hoa, thường)."))
    if current is None and len(version.items) >= MAX_ITEMS:
        add("__all__", _l("Một phiên bản có tối đa %(n)s câu hỏi.", n=MAX_ITEMS))
    element = None
    if draft.element_id is not None:
        element = next(
            (e for a in version.aspects for e in a.elements if e.id == draft.element_id), None
        )
        if element is None:
            add("element_id", _l("Chọn một yếu tố của phiên bản này."))
    rules = item_rule_problems(
        scale=draft.scale,
        role=draft.role,
        in_element=draft.element_id is not None,
        allow_na=draft.allow_na,
        max_choices=draft.max_choices,
        options=draft.options,
        satisfied=draft.satisfied_values,
        scale_labels=draft.scale_labels,
    )
    for field, messages in rules.items():
        for message in messages:
            add(field, message)
    target = None
    if draft.condition_item_id is not None:
        target = next((i for i in others if i.id == draft.condition_item_id), None)
        if current is not None and draft.condition_item_id == current.id:
            add("condition_item_id", _l("Câu hỏi không thể đặt điều kiện theo chính nó."))
        elif target is None:
            add("condition_item_id", _l("Chọn một câu hỏi khác của phiên bản này."))
        else:
            for message in condition_value_problems(
                target.code,
                target.scale,
                scale_values(target.scale, _points(target)),
                draft.condition_values,
            ):
                add("condition_values", message)
            if "element_id" not in problems and not _shown_before(version, target, draft, current):
                add("condition_item_id", _before_message(target))
    elif draft.condition_values:
        add("condition_item_id", _l("Chọn câu điều kiện, hoặc để trống ô giá trị."))
    if current is not None:
        _dependents_problems(current, draft, add)
        if scores := _scores_using(current):
            if draft.code != current.code:
                add(
                    "code",
                    _l(
                        "Câu này được cộng vào điểm %(scores)s: giữ nguyên mã.",
                        scores=", ".join(scores),
                    ),
                )
            if draft.scale in (Scale.CHOICE, Scale.TEXT):
                add(
                    "scale",
                    _l(
                        "Câu này được cộng vào điểm %(scores)s: cần một thang có điểm.",
                        scores=", ".join(scores),
                    ),
                )
    return element, target, problems


def _shown_before(
    version: TemplateVersion, target: Item, draft: ItemDraft, current: Item | None
) -> bool:
    """Whether ``target`` comes before the item once ``draft`` is applied (an item that changes
    element, or a new one, goes last in its element)."""
    key = _display_key(version)
    if current is not None and current.element_id == draft.element_id:
        mine = key(current.element_id, current.position, current.id)
    else:
        mine = key(draft.element_id, LAST, LAST)
    return bool(key(target.element_id, target.position, target.id) < mine)


def _before_message(target: Item) -> object:
    return _l(
        "Câu điều kiện %(target)s phải đứng trước câu này trong phiếu; "
        "hãy chọn một câu đứng trước, hoặc chuyển câu này xuống sau.",
        target=target.code,
    )


def _points(item: Item) -> list[tuple[int, str, str]]:
    return [(o.value, o.label, o.label_en) for o in item.options]


def _dependents_problems(item: Item, draft: ItemDraft, add: Any) -> None:
    """Items conditioned on ``item`` must still find their values on its new scale."""
    values = scale_values(draft.scale, draft.options)
    for dependent in dependents(item):
        if draft.scale == Scale.TEXT:
            add(
                "scale",
                _l(
                    "Câu %(code)s đặt điều kiện theo câu này: không đổi được sang trả lời tự do.",
                    code=dependent.code,
                ),
            )
            continue
        missing = [v for v in dependent.condition_values or [] if v not in values]
        if missing:
            add(
                "options" if draft.scale == Scale.CHOICE else "scale",
                _l(
                    "Câu %(code)s đặt điều kiện theo giá trị %(values)s của câu này, "
                    "giá trị đó không còn trong thang đo.",
                    code=dependent.code,
                    values=", ".join(str(v) for v in missing),
                ),
            )


def _ordered_labels(draft: ItemDraft) -> list[list[Any]]:
    """The draft's labels in the scale's order (the rules have checked one per point)."""
    own = {value: (vi, en) for value, vi, en in draft.scale_labels}
    return [[value, *own[value]] for value in scale_values(draft.scale) if value in own]


def _apply_item(item: Item, draft: ItemDraft, element: Element | None, target: Item | None) -> None:
    item.code = draft.code
    item.text = draft.text
    item.text_en = draft.text_en
    item.scale = draft.scale
    item.role = draft.role
    item.required = draft.required
    item.allow_na = draft.allow_na
    item.max_choices = draft.max_choices
    item.satisfied_values = sorted(set(draft.satisfied_values))
    item.scale_labels = _ordered_labels(draft) or None
    item.condition_item = target
    item.condition_values = sorted(set(draft.condition_values)) if target is not None else None
    if element is not item.element:
        item.element = element
        item.position = LAST
    # Options change in place: deleting and re-adding a row with the same value in one flush
    # would collide on the unique (item, value) key.
    wanted = {
        value: (pos, label, label_en) for pos, (value, label, label_en) in enumerate(draft.options)
    }
    for option in list(item.options):
        if option.value not in wanted:
            item.options.remove(option)
    existing = {o.value: o for o in item.options}
    for value, (pos, label, label_en) in wanted.items():
        kept = existing.get(value)
        if kept is None:
            item.options.append(
                ItemOption(value=value, position=pos, label=label, label_en=label_en)
            )
        else:
            kept.position, kept.label, kept.label_en = pos, label, label_en


def add_item(version: TemplateVersion, draft: ItemDraft, *, now: datetime, actor: User) -> Item:
    """A new item, last in its element (or last of all when it is in none)."""
    ensure_draft(version)
    element, target, problems = _item_problems(version, draft, None)
    if problems:
        raise TemplateInputError(problems)
    item = Item(code=draft.code, text=draft.text, scale=draft.scale, position=LAST)
    version.items.append(item)
    _apply_item(item, draft, element, target)
    item.position = LAST
    order = renumber(version)
    _raise_condition_problems(order, moved_field="element_id", focus=[item])
    _audit("template.item.create", item, now=now, actor=actor, after=item_snapshot(item))
    return item


def update_item(item: Item, draft: ItemDraft, *, now: datetime, actor: User) -> Item:
    version = item.version
    ensure_draft(version)
    element, target, problems = _item_problems(version, draft, item)
    if problems:
        raise TemplateInputError(problems)
    before = item_snapshot(item)
    _apply_item(item, draft, element, target)
    order = renumber(version)
    _raise_condition_problems(order, moved_field="element_id", focus=[item])
    after = item_snapshot(item)
    if after != before:
        _audit("template.item.update", item, now=now, actor=actor, before=before, after=after)
    return item


def item_delete_refusal(item: Item) -> str | None:
    following = dependents(item)
    if following:
        return str(
            _l(
                "Câu %(codes)s đặt điều kiện theo câu này: bỏ điều kiện ở các câu đó trước.",
                codes=", ".join(d.code for d in following),
            )
        )
    if scores := _scores_using(item):
        return str(
            _l(
                "Câu này được cộng vào điểm %(scores)s của phiếu: không xoá được.",
                scores=", ".join(scores),
            )
        )
    return None


def _scores_using(item: Item) -> list[str]:
    """The codes of the version's scores that add this item's points."""
    return [
        str(score["code"])
        for score in item.version.scores or []
        if item.code in score.get("items", [])
    ]


def delete_item(item: Item, *, now: datetime, actor: User) -> None:
    version = item.version
    ensure_draft(version)
    refusal = item_delete_refusal(item)
    if refusal:
        raise TemplateInputError({"__all__": [refusal]})
    _audit("template.item.delete", item, now=now, actor=actor, before=item_snapshot(item))
    db.session.delete(item)
    renumber(version)


# --- Order ---------------------------------------------------------------------------------------


def _siblings(obj: Aspect | Element | Item) -> list[Any]:
    if isinstance(obj, Aspect):
        return sorted(obj.version.aspects, key=lambda a: (a.position, a.id))
    if isinstance(obj, Element):
        return sorted(obj.aspect.elements, key=lambda e: (e.position, e.id))
    return sorted(
        (i for i in obj.version.items if i.element_id == obj.element_id),
        key=lambda i: (i.position, i.id),
    )


def _version_of(obj: Aspect | Element | Item) -> TemplateVersion:
    return obj.aspect.version if isinstance(obj, Element) else obj.version


def move(obj: Aspect | Element | Item, direction: Direction, *, now: datetime, actor: User) -> None:
    """Swap an aspect, element or item with its neighbour above or below (in its aspect, its
    element, or among the items outside elements). At either end nothing changes."""
    version = _version_of(obj)
    ensure_draft(version)
    siblings = _siblings(obj)
    here = siblings.index(obj)
    there = here - 1 if direction == "up" else here + 1
    if not 0 <= there < len(siblings):
        return
    before = {"position": obj.position}
    siblings[here], siblings[there] = siblings[there], siblings[here]
    # Items are numbered across the whole version, but renumbering sorts them by their
    # element first, so numbering the siblings among themselves is enough.
    for position, sibling in enumerate(siblings):
        sibling.position = position
    order = renumber(version)
    _raise_condition_problems(order, moved_field="__all__", focus=[])
    kind = {Aspect: "aspect", Element: "element", Item: "item"}[type(obj)]
    _audit(
        f"template.{kind}.move",
        obj,
        now=now,
        actor=actor,
        before=before | {"code": obj.code},
        after={"position": obj.position, "code": obj.code},
    )


def renumber(version: TemplateVersion) -> list[Item]:
    """Contiguous positions for aspects, for elements within each aspect, and for items along the
    display order; returns the items in that order."""
    db.session.flush()
    db.session.expire(version, ["aspects", "items"])
    for a_pos, aspect in enumerate(sorted(version.aspects, key=lambda a: (a.position, a.id))):
        aspect.position = a_pos
        db.session.expire(aspect, ["elements"])
        for e_pos, element in enumerate(sorted(aspect.elements, key=lambda e: (e.position, e.id))):
            element.position = e_pos
    rank = {e.id: n for n, e in enumerate(e for a in version.aspects for e in a.elements)}
    order = sorted(
        version.items,
        key=lambda i: (
            (0, rank[i.element_id]) if i.element_id in rank else (1, 0),
            i.position,
            i.id,
        ),
    )
    for position, item in enumerate(order):
        item.position = position
    db.session.flush()
    for element in (e for a in version.aspects for e in a.elements):
        db.session.expire(element, ["items"])
    return order


def _raise_condition_problems(
    order: Sequence[Item], *, moved_field: str, focus: Sequence[Item]
) -> None:
    """Refuse an order in which some item's condition points at an item shown after it."""
    problems: dict[str, list[object]] = {}
    shown = {item.id: n for n, item in enumerate(order)}
    focused = {item.id for item in focus}
    for item in order:
        target_id = item.condition_item_id
        if target_id is None or shown[target_id] < shown[item.id]:
            continue
        target = order[shown[target_id]]
        if item.id in focused:
            field = "condition_item_id"
            message = _before_message(target)
        else:
            field = moved_field
            message = _l(
                "Câu %(item)s đặt điều kiện theo câu %(target)s, nên câu %(target)s "
                "phải đứng trước câu %(item)s trong phiếu.",
                item=item.code,
                target=target.code,
            )
        problems.setdefault(field, []).append(message)
    if problems:
        raise TemplateInputError(problems)
