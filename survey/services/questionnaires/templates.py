"""Questionnaire templates: loading them from their JSON description, the rules every version
obeys, listing, cloning, exporting and importing versions, and freezing them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import (
    Aspect,
    Element,
    IndexDefinition,
    Item,
    ItemOption,
    ItemRole,
    Round,
    RoundState,
    Scale,
    Template,
    TemplateVersion,
    User,
)
from survey.models.templates import DEFAULT_SATISFIED, SCALE_POINTS
from survey.services.audit import record_event

STARTER_TEMPLATES = (
    "sipas.json",
    "one_stop.json",
    "one_stop_12.json",
    "health_outpatient.json",
    "health_inpatient.json",
    "education.json",
    "sipas_2023.json",
)


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
        scale_labels=_scale_labels(scale, raw.get("scale_labels") or []),
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


def _scale_labels(scale: Scale, raw: Sequence[Sequence[Any]]) -> list[list[Any]] | None:
    """An item's own labels in its scale's order (None: the scale's labels)."""
    own = {int(value): [int(value), str(vi), str(en)] for value, vi, en in raw}
    ordered = [own[value] for value in scale_values(scale) if value in own]
    return ordered or None


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
        default_target=raw_version.get("default_target"),
        scores=[dict(score) for score in raw_version.get("scores") or []] or None,
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


def load_starter_templates(
    *, now: datetime, names: Iterable[str] = STARTER_TEMPLATES
) -> list[TemplateVersion]:
    """Load the shipped templates (the files ``names``), skipping any whose code already
    exists."""
    loaded = []
    for name in names:
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


# --- Rules every questionnaire version obeys, whether typed in the console or imported ----------

# Item codes name the answer fields (q_<code>) and the export's variables (SPSS and Stata), so
# they are letters, digits and underscores, start with a letter and fit Stata's 32 characters.
ITEM_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
GROUP_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RATED_SCALES = frozenset({Scale.SAT5, Scale.LEVEL4, Scale.ONESTOP3, Scale.YESNO, Scale.POINTS210})
MAX_NAME = 300
MAX_LABEL = 120  # a scale point's label: a radio button's text on a phone
MAX_ITEM_TEXT = 1000
MAX_INTRO = 5000
MAX_OPTIONS = 50
MAX_VALUE = 9999
MAX_ITEMS = 500
MAX_JSON_BYTES = 1024 * 1024

Problems = dict[str, list[str]]


class TemplateInputError(DomainError):
    """A change would make the questionnaire impossible. ``problems`` maps the form field to
    mark (``"__all__"`` for the page) to its messages."""

    status = 422
    code = "invalid_template"

    def __init__(self, problems: Mapping[str, Sequence[object]]) -> None:
        self.problems: Problems = {k: [str(m) for m in v] for k, v in problems.items() if v}
        super().__init__(" ".join(m for messages in self.problems.values() for m in messages))


def _add(problems: Problems, field: str, message: object) -> None:
    problems.setdefault(field, []).append(str(message))


def scale_values(scale: str, options: Sequence[tuple[int, str, str]] = ()) -> list[int]:
    """The answer values of a scale (a choice item's are its options')."""
    if scale == Scale.CHOICE:
        return [value for value, _vi, _en in options]
    try:
        return [value for value, _vi, _en in SCALE_POINTS.get(Scale(scale), ())]
    except ValueError:
        return []


def _listed(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def item_rule_problems(
    *,
    scale: str,
    role: str,
    in_element: bool,
    allow_na: bool,
    max_choices: int | None,
    options: Sequence[tuple[int, str, str]],
    satisfied: Sequence[int],
    scale_labels: Sequence[tuple[int, str, str]] = (),
) -> Problems:
    """What is wrong with one item on its own, by field; empty when nothing is."""
    problems: Problems = {}
    try:
        scale_ = Scale(scale)
    except ValueError:
        _add(problems, "scale", _l("Chọn một thang đo trong danh sách."))
        return problems
    try:
        role_ = ItemRole(role)
    except ValueError:
        _add(problems, "role", _l("Chọn một vai trò trong danh sách."))
        return problems
    if role_ == ItemRole.CRITERION and not in_element:
        _add(problems, "element_id", _l("Tiêu chí phải thuộc một yếu tố: hãy chọn yếu tố."))
    if role_ in (ItemRole.CRITERION, ItemRole.OVERALL) and scale_ not in RATED_SCALES:
        _add(
            problems,
            "scale",
            _l(
                "Tiêu chí và câu hỏi hài lòng chung cần thang đo có mức "
                "(5 mức, 4 mức, 3 mức hoặc Có/Không)."
            ),
        )
    if role_ == ItemRole.COMMENT and scale_ != Scale.TEXT:
        _add(problems, "scale", _l("Câu “Ý kiến khác” cần thang “Trả lời tự do”."))
    if role_ == ItemRole.PRIORITIES and scale_ != Scale.CHOICE:
        _add(
            problems,
            "scale",
            _l("Câu “Nội dung cần ưu tiên cải thiện” cần thang “Chọn trong danh sách”."),
        )
    if allow_na and scale_ not in RATED_SCALES:
        _add(
            problems,
            "allow_na",
            _l("Chỉ câu hỏi chọn một mức mới có lựa chọn “Không áp dụng”."),
        )
    if scale_ == Scale.CHOICE:
        _option_problems(problems, options, max_choices)
    else:
        if options:
            _add(
                problems,
                "options",
                _l("Chỉ câu hỏi có thang “Chọn trong danh sách” mới có danh sách lựa chọn."),
            )
        if max_choices is not None:
            _add(
                problems,
                "max_choices",
                _l("Chỉ câu hỏi có thang “Chọn trong danh sách” mới có số lựa chọn tối đa."),
            )
    if scale_labels:
        _scale_label_problems(problems, scale_, scale_labels)
    allowed = scale_values(scale_, options)
    if scale_ == Scale.TEXT:
        if satisfied:
            _add(
                problems,
                "satisfied_values",
                _l("Câu trả lời tự do không có giá trị được tính là hài lòng: để trống ô này."),
            )
    elif bad := [v for v in satisfied if v not in allowed]:
        _add(
            problems,
            "satisfied_values",
            _l(
                "Giá trị %(values)s không có trong thang đo; các giá trị có: %(allowed)s.",
                values=_listed(bad),
                allowed=_listed(allowed),
            ),
        )
    elif role_ in (ItemRole.CRITERION, ItemRole.OVERALL) and not satisfied:
        _add(
            problems,
            "satisfied_values",
            _l("Nhập ít nhất một giá trị được tính là hài lòng, ví dụ 4, 5 với thang 5 mức."),
        )
    return problems


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _scale_label_problems(
    problems: Problems, scale: Scale, labels: Sequence[tuple[int, str, str]]
) -> None:
    """An item's own wording of its scale: one non-empty label per point of the scale."""
    if scale in (Scale.CHOICE, Scale.TEXT):
        _add(
            problems,
            "scale_labels",
            _l(
                "Chỉ câu hỏi có thang mức mới có nhãn riêng cho từng mức; "
                "câu chọn trong danh sách ghi nhãn ở ô “Các lựa chọn”."
            ),
        )
        return
    allowed = scale_values(scale)
    seen: set[int] = set()
    for value, label, label_en in labels:
        if value not in allowed:
            _add(
                problems,
                "scale_labels",
                _l(
                    "Mức %(value)s không có trong thang đo; các mức có: %(allowed)s.",
                    value=value,
                    allowed=_listed(allowed),
                ),
            )
            continue
        if value in seen:
            _add(problems, "scale_labels", _l("Mức %(value)s có hai nhãn.", value=value))
        seen.add(value)
        if not label.strip():
            _add(
                problems,
                "scale_labels",
                _l("Nhãn tiếng Việt của mức %(value)s đang để trống.", value=value),
            )
        if len(label) > MAX_LABEL or len(label_en) > MAX_LABEL:
            _add(
                problems,
                "scale_labels",
                _l("Nhãn của mức %(value)s dài quá %(n)s ký tự.", value=value, n=MAX_LABEL),
            )
        if CONTROL.search(label) or CONTROL.search(label_en):
            _add(
                problems,
                "scale_labels",
                _l("Nhãn của mức %(value)s có ký tự điều khiển: hãy gõ lại.", value=value),
            )
    if missing := [v for v in allowed if v not in seen]:
        _add(
            problems,
            "scale_labels",
            _l(
                "Cần một nhãn cho mỗi mức của thang; còn thiếu mức %(values)s. "
                "Để trống cả ô nếu dùng nhãn chung của thang.",
                values=_listed(missing),
            ),
        )


def _option_problems(
    problems: Problems, options: Sequence[tuple[int, str, str]], max_choices: int | None
) -> None:
    if len(options) < 2:
        _add(problems, "options", _l("Câu hỏi chọn trong danh sách cần ít nhất hai lựa chọn."))
    if len(options) > MAX_OPTIONS:
        _add(problems, "options", _l("Tối đa %(n)s lựa chọn.", n=MAX_OPTIONS))
    seen: set[int] = set()
    for value, label, label_en in options:
        if value in seen:
            _add(problems, "options", _l("Giá trị %(value)s xuất hiện hai lần.", value=value))
        seen.add(value)
        if abs(value) > MAX_VALUE:
            _add(
                problems,
                "options",
                _l("Giá trị lựa chọn từ -%(max)s đến %(max)s.", max=MAX_VALUE),
            )
        if not label.strip():
            _add(problems, "options", _l("Lựa chọn %(value)s thiếu nhãn tiếng Việt.", value=value))
        if len(label) > MAX_NAME or len(label_en) > MAX_NAME:
            _add(
                problems,
                "options",
                _l("Nhãn của lựa chọn %(value)s dài quá %(n)s ký tự.", value=value, n=MAX_NAME),
            )
    if max_choices is not None and not 1 <= max_choices <= max(len(options), 1):
        _add(
            problems,
            "max_choices",
            _l(
                "Số lựa chọn tối đa từ 1 đến %(n)s (số lựa chọn trong danh sách).",
                n=max(len(options), 1),
            ),
        )


def condition_value_problems(
    target_code: str, target_scale: str, target_values: Sequence[int], values: Sequence[int]
) -> list[str]:
    """What is wrong with showing an item only when ``target`` was answered with ``values``."""
    if target_scale == Scale.TEXT:
        return [str(_l("Không đặt điều kiện theo một câu trả lời tự do."))]
    if not values:
        return [str(_l("Nhập giá trị của câu điều kiện làm câu này hiện ra, ví dụ 1."))]
    bad = [v for v in values if v not in target_values]
    if bad:
        return [
            str(
                _l(
                    "Giá trị %(values)s không có trong câu %(code)s; các giá trị có: %(allowed)s.",
                    values=_listed(bad),
                    code=target_code,
                    allowed=_listed(target_values),
                )
            )
        ]
    return []


# --- Listing, cloning, exporting and importing versions ------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: TemplateVersion
    items: int
    rounds: int  # rounds of any state that use the version
    live_rounds: int  # of which open or closed (not yet published)


def version_rows() -> list[VersionRow]:
    """Every version of every template, templates by code and newest version first."""
    items = dict(
        db.session.execute(select(Item.version_id, func.count()).group_by(Item.version_id)).all()
    )
    rounds: dict[int, int] = {}
    live: dict[int, int] = {}
    for version_id, state, count in db.session.execute(
        select(Round.template_version_id, Round.state, func.count()).group_by(
            Round.template_version_id, Round.state
        )
    ):
        rounds[version_id] = rounds.get(version_id, 0) + count
        if state in (RoundState.OPEN, RoundState.CLOSED):
            live[version_id] = live.get(version_id, 0) + count
    versions = db.session.scalars(
        select(TemplateVersion)
        .join(Template)
        .options(contains_eager(TemplateVersion.template))
        .order_by(Template.code, TemplateVersion.number.desc())
    ).all()
    return [
        VersionRow(v, items.get(v.id, 0), rounds.get(v.id, 0), live.get(v.id, 0)) for v in versions
    ]


def find_version(version_id: int, *, lock: bool = False) -> TemplateVersion:
    """A version by id. ``lock`` holds its row until the commit, so that a round cannot open
    (and freeze it) between the check that it is a draft and the change."""
    query = select(TemplateVersion).where(TemplateVersion.id == version_id)
    if lock:
        query = query.with_for_update()
    version = db.session.scalar(query)
    if version is None:
        raise NotFoundError(str(_l("Không tìm thấy phiên bản phiếu khảo sát.")))
    return version


def rounds_using(version: TemplateVersion) -> list[Round]:
    return list(
        db.session.scalars(
            select(Round)
            .where(Round.template_version_id == version.id)
            .order_by(Round.created_at.desc(), Round.id.desc())
        )
    )


def _next_number(template: Template) -> int:
    # The template row is locked first, so two clones at once number one after the other.
    db.session.scalar(select(Template.id).where(Template.id == template.id).with_for_update())
    highest = db.session.scalar(
        select(func.max(TemplateVersion.number)).where(TemplateVersion.template_id == template.id)
    )
    return (highest or 0) + 1


def clone_version(
    source: TemplateVersion, *, now: datetime, actor: User | None = None
) -> TemplateVersion:
    """A new draft version of the same template: a deep copy of the aspects, elements, items and
    options, with conditions pointing at the copies."""
    copy = TemplateVersion(
        template=source.template,
        number=_next_number(source.template),
        title=source.title,
        title_en=source.title_en,
        intro=source.intro,
        intro_en=source.intro_en,
        index_definition=source.index_definition,
        default_target=source.default_target,
        scores=[dict(score) for score in source.scores] if source.scores else None,
        created_at=now,
    )
    db.session.add(copy)
    elements: dict[int, Element] = {}
    for aspect in source.aspects:
        new_aspect = Aspect(
            code=aspect.code, position=aspect.position, name=aspect.name, name_en=aspect.name_en
        )
        copy.aspects.append(new_aspect)
        for element in aspect.elements:
            new_element = Element(
                code=element.code,
                position=element.position,
                name=element.name,
                name_en=element.name_en,
            )
            new_aspect.elements.append(new_element)
            elements[element.id] = new_element
    items: dict[int, Item] = {}
    for item in source.items:
        new_item = Item(
            code=item.code,
            position=item.position,
            text=item.text,
            text_en=item.text_en,
            scale=item.scale,
            role=item.role,
            required=item.required,
            allow_na=item.allow_na,
            max_choices=item.max_choices,
            satisfied_values=list(item.satisfied_values or []),
            scale_labels=(
                [list(point) for point in item.scale_labels] if item.scale_labels else None
            ),
            condition_values=(
                list(item.condition_values) if item.condition_values is not None else None
            ),
        )
        for option in item.options:
            new_item.options.append(
                ItemOption(
                    value=option.value,
                    position=option.position,
                    label=option.label,
                    label_en=option.label_en,
                )
            )
        copy.items.append(new_item)
        if item.element_id is not None:
            new_item.element = elements[item.element_id]
        items[item.id] = new_item
    for item in source.items:
        if item.condition_item_id is not None:
            items[item.id].condition_item = items[item.condition_item_id]
    db.session.flush()
    record_event(
        action="template.version.clone",
        entity_type="template_version",
        entity_id=copy.id,
        now=now,
        actor=actor,
        after={
            "template": source.template.code,
            "number": copy.number,
            "from_version_id": source.id,
            "from_number": source.number,
            "items": len(items),
        },
    )
    return copy


def export_version(version: TemplateVersion) -> dict[str, Any]:
    """The version in the JSON form of ``survey/starter_templates``; ``import_template`` reads it
    back into an identical new version."""

    def item(i: Item) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": i.code,
            "text": i.text,
            "text_en": i.text_en,
            "scale": i.scale,
            "role": i.role,
            "required": i.required,
            "allow_na": i.allow_na,
            "satisfied_values": list(i.satisfied_values or []),
        }
        if i.scale_labels:
            out["scale_labels"] = [list(point) for point in i.scale_labels]
        if i.max_choices is not None:
            out["max_choices"] = i.max_choices
        if i.options:
            out["options"] = [[o.value, o.label, o.label_en] for o in i.options]
        if i.condition_item is not None:
            out["condition"] = {
                "item": i.condition_item.code,
                "values": list(i.condition_values or []),
            }
        return out

    extra: dict[str, Any] = {}
    if version.default_target is not None:
        extra["default_target"] = version.default_target
    if version.scores:
        extra["scores"] = [dict(score) for score in version.scores]
    return {
        "code": version.template.code,
        "name": version.template.name,
        "name_en": version.template.name_en,
        "version": {
            "title": version.title,
            "title_en": version.title_en,
            "intro": version.intro,
            "intro_en": version.intro_en,
            "index_definition": version.index_definition,
            **extra,
            "aspects": [
                {
                    "code": a.code,
                    "name": a.name,
                    "name_en": a.name_en,
                    "elements": [
                        {
                            "code": e.code,
                            "name": e.name,
                            "name_en": e.name_en,
                            "items": [item(i) for i in e.items],
                        }
                        for e in a.elements
                    ],
                }
                for a in version.aspects
            ],
            "items": [item(i) for i in version.items if i.element_id is None],
        },
    }


@dataclass
class ImportOutcome:
    version: TemplateVersion | None = None
    new_template: bool = False
    problems: list[str] = field(default_factory=list)


def import_template_file(raw: bytes, *, now: datetime, actor: User) -> ImportOutcome:
    """Import a version from an uploaded JSON file, or report every problem and import nothing.
    A known template code adds a new draft version to that template."""
    if len(raw) > MAX_JSON_BYTES:
        return ImportOutcome(problems=[str(_l("Tệp lớn quá 1 MB."))])
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return ImportOutcome(problems=[str(_l("Tệp không phải văn bản UTF-8."))])
    except json.JSONDecodeError as exc:
        return ImportOutcome(
            problems=[
                str(
                    _l(
                        "Tệp không phải JSON hợp lệ (dòng %(line)s, cột %(col)s).",
                        line=exc.lineno,
                        col=exc.colno,
                    )
                )
            ]
        )
    except RecursionError:
        return ImportOutcome(problems=[str(_l("Tệp JSON lồng nhau quá sâu."))])
    problems = template_json_problems(data)
    if problems:
        return ImportOutcome(problems=problems)
    existing = db.session.scalar(
        select(Template.code).where(func.lower(Template.code) == data["code"].lower())
    )
    if existing is not None and existing != data["code"]:
        return ImportOutcome(
            problems=[
                str(
                    _l(
                        "$: đã có phiếu mã “%(code)s”; để nhập thành phiên bản mới của phiếu đó, "
                        "hãy dùng đúng mã này (cả chữ hoa, chữ thường).",
                        code=existing,
                    )
                )
            ]
        )
    version = import_template(data, now=now)
    record_event(
        action="template.import",
        entity_type="template_version",
        entity_id=version.id,
        now=now,
        actor=actor,
        after={
            "template": version.template.code,
            "number": version.number,
            "items": len(version.items),
        },
    )
    return ImportOutcome(version=version, new_template=existing is None)


class _JsonChecker:
    """Walks a template's JSON form and collects one message per problem, with where it is."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, where: str, message: object) -> None:
        self.problems.append(f"{where}: {message}")

    def obj(self, value: Any, where: str, keys: set[str], required: set[str]) -> bool:
        if not isinstance(value, dict):
            self.add(where, _l("cần một đối tượng JSON {…}."))
            return False
        for key in sorted(set(value) - keys, key=str):
            self.add(where, _l("trường “%(key)s” không được biết đến.", key=key))
        for key in sorted(required - set(value)):
            self.add(where, _l("thiếu trường “%(key)s”.", key=key))
        return True

    def text(
        self, parent: dict[str, Any], key: str, where: str, limit: int, *, blank: bool = True
    ) -> str:
        value = parent.get(key, "")
        if not isinstance(value, str):
            self.add(where, _l("“%(key)s” phải là một chuỗi.", key=key))
            return ""
        if not blank and not value.strip():
            self.add(where, _l("“%(key)s” không được để trống.", key=key))
        if len(value) > limit:
            self.add(where, _l("“%(key)s” dài quá %(n)s ký tự.", key=key, n=limit))
        return value

    def code(self, parent: dict[str, Any], where: str, pattern: re.Pattern[str]) -> str:
        value = parent.get("code")
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.add(where, _l("mã “%(code)s” không hợp lệ.", code=value))
            return ""
        return value

    def flag(self, parent: dict[str, Any], key: str, where: str) -> bool:
        value = parent.get(key, False)
        if not isinstance(value, bool):
            self.add(where, _l("“%(key)s” phải là true hoặc false.", key=key))
            return False
        return value

    def integers(self, value: Any, where: str, key: str) -> list[int]:
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            self.add(where, _l("“%(key)s” phải là một danh sách số nguyên.", key=key))
            return []
        return list(value)


ITEM_KEYS = {
    "code",
    "text",
    "text_en",
    "scale",
    "role",
    "required",
    "allow_na",
    "max_choices",
    "satisfied_values",
    "options",
    "condition",
    "scale_labels",
}


def template_json_problems(data: Any) -> list[str]:
    """Every problem of a template's JSON form, each with where it is; empty when it imports."""
    check = _JsonChecker()
    # "description": where the wording comes from, for whoever edits the file; not stored.
    keys = {"code", "name", "name_en", "description", "description_en", "version"}
    if not check.obj(data, "$", keys, {"code", "name", "version"}):
        return check.problems
    check.text(data, "description", "$", MAX_INTRO)
    check.text(data, "description_en", "$", MAX_INTRO)
    check.code(data, "$", GROUP_CODE)
    check.text(data, "name", "$", MAX_NAME, blank=False)
    check.text(data, "name_en", "$", MAX_NAME)
    raw_version = data.get("version")
    where = "$.version"
    version_keys = {
        "title",
        "title_en",
        "intro",
        "intro_en",
        "index_definition",
        "default_target",
        "scores",
        "aspects",
        "items",
    }
    if not check.obj(raw_version, where, version_keys, {"title"}):
        return check.problems
    check.text(raw_version, "title", where, MAX_NAME, blank=False)
    check.text(raw_version, "title_en", where, MAX_NAME)
    check.text(raw_version, "intro", where, MAX_INTRO)
    check.text(raw_version, "intro_en", where, MAX_INTRO)
    if raw_version.get("index_definition", IndexDefinition.TOP2BOX) not in set(IndexDefinition):
        check.add(where, _l("“index_definition” phải là top2box, mean hoặc mean_pct."))
    target = raw_version.get("default_target")
    if target is not None and (
        not isinstance(target, int | float) or isinstance(target, bool) or not 0 <= target <= 100
    ):
        check.add(where, _l("“default_target” phải là một số từ 0 đến 100 (phần trăm)."))
    # (where, raw item, in an element) in the order citizens see them.
    ordered: list[tuple[str, dict[str, Any], bool]] = []
    # Aspect and element indices share one column of the result tables: one set of codes.
    aspect_codes: set[str] = set()
    element_codes = aspect_codes
    aspects = raw_version.get("aspects", [])
    if not isinstance(aspects, list):
        check.add(where, _l("“%(key)s” phải là một danh sách.", key="aspects"))
        aspects = []
    for a, raw_aspect in enumerate(aspects):
        a_where = f"{where}.aspects[{a}]"
        if not check.obj(
            raw_aspect, a_where, {"code", "name", "name_en", "elements"}, {"code", "name"}
        ):
            continue
        _unique(check, a_where, check.code(raw_aspect, a_where, GROUP_CODE), aspect_codes)
        check.text(raw_aspect, "name", a_where, MAX_NAME, blank=False)
        check.text(raw_aspect, "name_en", a_where, MAX_NAME)
        elements = raw_aspect.get("elements", [])
        if not isinstance(elements, list):
            check.add(a_where, _l("“%(key)s” phải là một danh sách.", key="elements"))
            continue
        for e, raw_element in enumerate(elements):
            e_where = f"{a_where}.elements[{e}]"
            keys = {"code", "name", "name_en", "items"}
            if not check.obj(raw_element, e_where, keys, {"code", "name"}):
                continue
            _unique(check, e_where, check.code(raw_element, e_where, GROUP_CODE), element_codes)
            check.text(raw_element, "name", e_where, MAX_NAME, blank=False)
            check.text(raw_element, "name_en", e_where, MAX_NAME)
            items = raw_element.get("items", [])
            if not isinstance(items, list):
                check.add(e_where, _l("“%(key)s” phải là một danh sách.", key="items"))
                continue
            ordered.extend((f"{e_where}.items[{i}]", raw, True) for i, raw in enumerate(items))
    loose = raw_version.get("items", [])
    if not isinstance(loose, list):
        check.add(where, _l("“%(key)s” phải là một danh sách.", key="items"))
        loose = []
    ordered.extend((f"{where}.items[{i}]", raw, False) for i, raw in enumerate(loose))
    if len(ordered) > MAX_ITEMS:
        check.add(where, _l("tối đa %(n)s câu hỏi.", n=MAX_ITEMS))
        return check.problems
    scales = _check_json_items(check, ordered)
    _check_json_scores(check, raw_version.get("scores"), where, scales)
    return check.problems


def _unique(check: _JsonChecker, where: str, code: str, seen: set[str]) -> None:
    if code and code.lower() in seen:
        check.add(where, _l("mã “%(code)s” bị trùng.", code=code))
    seen.add(code.lower())


# The rules name form fields; in a file, the JSON key (an element is where the item sits).
JSON_FIELDS = {"element_id": "element"}


def _check_json_items(
    check: _JsonChecker, ordered: list[tuple[str, dict[str, Any], bool]]
) -> dict[str, str]:
    """Check every item; returns the scale of each item code."""
    # The items met so far, code -> (scale, values): a condition may only look backwards.
    earlier: dict[str, tuple[str, list[int]]] = {}
    codes: set[str] = set()
    for where, raw, in_element in ordered:
        if not check.obj(raw, where, ITEM_KEYS, {"code", "text", "scale"}):
            continue
        code = check.code(raw, where, ITEM_CODE)
        _unique(check, where, code, codes)
        where = f"{where} ({code})" if code else where
        check.text(raw, "text", where, MAX_ITEM_TEXT, blank=False)
        check.text(raw, "text_en", where, MAX_ITEM_TEXT)
        check.flag(raw, "required", where)
        allow_na = check.flag(raw, "allow_na", where)
        scale = raw.get("scale")
        role = raw.get("role", ItemRole.CRITERION)
        max_choices = raw.get("max_choices")
        if max_choices is not None and (
            not isinstance(max_choices, int) or isinstance(max_choices, bool)
        ):
            check.add(where, _l("“max_choices” phải là một số nguyên."))
            max_choices = None
        options = _json_options(check, raw.get("options", []), where)
        scale_labels = (
            []
            if raw.get("scale_labels") is None
            else _json_options(check, raw["scale_labels"], where, key="scale_labels")
        )
        if "satisfied_values" in raw:
            satisfied = check.integers(raw["satisfied_values"], where, "satisfied_values")
        else:
            try:
                satisfied = list(DEFAULT_SATISFIED.get(Scale(str(scale)), ()))
            except ValueError:
                satisfied = []
        rules = item_rule_problems(
            scale=str(scale),
            role=str(role),
            in_element=in_element,
            allow_na=allow_na,
            max_choices=max_choices,
            options=options,
            satisfied=satisfied,
            scale_labels=scale_labels,
        )
        for field_name, messages in rules.items():
            for message in messages:
                check.add(where, f"{JSON_FIELDS.get(field_name, field_name)}: {message}")
        condition = raw.get("condition")
        if condition is not None:
            _check_json_condition(check, condition, where, code, earlier)
        if code:
            earlier[code] = (str(scale), scale_values(str(scale), options))
    return {code: scale for code, (scale, _values) in earlier.items()}


SCORE_KEYS = {"code", "name", "name_en", "items"}


def _check_json_scores(
    check: _JsonChecker, raw: Any, where: str, scales: Mapping[str, str]
) -> None:
    """A score sums the points of rated items, each counted once."""
    if raw is None:
        return
    if not isinstance(raw, list):
        check.add(where, _l("“%(key)s” phải là một danh sách.", key="scores"))
        return
    codes: set[str] = set()
    for n, score in enumerate(raw):
        s_where = f"{where}.scores[{n}]"
        if not check.obj(score, s_where, SCORE_KEYS, SCORE_KEYS - {"name_en"}):
            continue
        _unique(check, s_where, check.code(score, s_where, ITEM_CODE), codes)
        check.text(score, "name", s_where, MAX_NAME, blank=False)
        check.text(score, "name_en", s_where, MAX_NAME)
        items = score.get("items")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            check.add(s_where, _l("“items” phải là danh sách mã câu hỏi, ít nhất một câu."))
            continue
        if len(set(items)) != len(items):
            check.add(s_where, _l("một câu hỏi được cộng hai lần."))
        for code in items:
            if code not in scales:
                check.add(s_where, _l("không có câu hỏi mã “%(code)s”.", code=code))
            elif scales[code] not in RATED_SCALES:
                check.add(
                    s_where,
                    _l("câu %(code)s không có thang điểm nên không cộng được.", code=code),
                )


def _json_options(
    check: _JsonChecker, raw: Any, where: str, *, key: str = "options"
) -> list[tuple[int, str, str]]:
    if not isinstance(raw, list):
        check.add(where, _l("“%(key)s” phải là một danh sách.", key=key))
        return []
    options = []
    for n, option in enumerate(raw):
        if (
            not isinstance(option, list)
            or len(option) != 3
            or not isinstance(option[0], int)
            or isinstance(option[0], bool)
            or not isinstance(option[1], str)
            or not isinstance(option[2], str)
        ):
            if key == "options":
                message = _l(
                    "lựa chọn thứ %(n)s phải có dạng "
                    "[giá trị, “nhãn tiếng Việt”, “nhãn tiếng Anh”].",
                    n=n + 1,
                )
            else:
                message = _l(
                    "nhãn thứ %(n)s của “%(key)s” phải có dạng "
                    "[mức, “nhãn tiếng Việt”, “nhãn tiếng Anh”].",
                    n=n + 1,
                    key=key,
                )
            check.add(where, message)
            continue
        options.append((option[0], option[1], option[2]))
    return options


def _check_json_condition(
    check: _JsonChecker,
    condition: Any,
    where: str,
    code: str,
    earlier: Mapping[str, tuple[str, list[int]]],
) -> None:
    if not check.obj(condition, f"{where}.condition", {"item", "values"}, {"item", "values"}):
        return
    target = condition["item"]
    values = check.integers(condition["values"], where, "condition.values")
    if target == code:
        check.add(where, _l("câu hỏi không thể đặt điều kiện theo chính nó."))
    elif target not in earlier:
        check.add(
            where,
            _l(
                "điều kiện theo câu “%(target)s”, câu này phải có và đứng trước câu %(code)s.",
                target=target,
                code=code,
            ),
        )
    else:
        scale, target_values = earlier[target]
        for message in condition_value_problems(str(target), scale, target_values, values):
            check.add(where, message)
