"""What a round's results are held to: its satisfaction target, the targets of unit levels, and
its publishing rule (shared/domain.md, "Publishing"; ``analysis.publishing.PublishingRule``).

Targets are percentages typed the Vietnamese way or the English way ("95,5" and "95.5" are the
same); the province's default target is the ``TARGET_DEFAULT`` setting (90 %, the 2021-2025
plans). Changes are audited and refused once the round is published: its numbers are final.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from analysis.publishing import PublishingRule
from survey.errors import ConflictError, DomainError
from survey.extensions import db
from survey.models import Round, RoundLevelTarget, RoundState, UnitLevel, User
from survey.services.audit import record_event

DEFAULT_TARGET = 90.0  # "above 90%" (provincial plans 2021-2025, shared/domain.md)
RULE_FIELDS = (
    "min_n_eff",
    "max_ci_width",
    "relative_width_above",
    "max_relative_width",
    "df_review",
)
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


class SettingsError(DomainError):
    """Some fields of the settings are wrong: ``errors`` maps each to what is wrong with it."""

    status = 422

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


def parse_number(text: str | None) -> float | None:
    """``text`` as a number, with a decimal comma or point ("95,5", "95.5", "95 %"); None when
    it is not one. Thousands separators are refused: "1.000" is ambiguous between the two
    conventions, and a percentage never needs one."""
    cleaned = (text or "").strip().removesuffix("%").strip()
    if not _NUMBER.match(cleaned):
        return None
    value = float(cleaned.replace(",", "."))
    return value if math.isfinite(value) else None


def parse_target(text: str | None) -> float:
    """A target percentage from 0 to 100; ValueError with the message to show otherwise."""
    value = parse_number(text)
    if value is None:
        raise ValueError(
            str(
                _l(
                    "“%(text)s” không phải là một số: nhập mục tiêu theo phần trăm, ví dụ 90 "
                    "hoặc 95,5.",
                    text=(text or "").strip()[:40],
                )
            )
        )
    if not 0 <= value <= 100:
        raise ValueError(str(_l("Mục tiêu là một tỷ lệ phần trăm từ 0 đến 100.")))
    return value


def default_target() -> float:
    """The province's default target (the ``TARGET_DEFAULT`` setting)."""
    return float(current_app.config.get("TARGET_DEFAULT", DEFAULT_TARGET))


@dataclass(frozen=True)
class Targets:
    """The round's target and those of unit levels (level code -> percent)."""

    round: float
    levels: dict[str, float] = field(default_factory=dict)
    from_round: bool = False  # set on the round (False: the province's default)

    def for_level(self, level_code: str | None) -> float:
        return self.levels.get(level_code or "", self.round)


def round_targets(round_: Round) -> Targets:
    levels = {
        code: target
        for code, target in db.session.execute(
            select(RoundLevelTarget.level_code, RoundLevelTarget.target).where(
                RoundLevelTarget.round_id == round_.id
            )
        )
    }
    if round_.target is not None:
        return Targets(round_.target, levels, True)
    return Targets(default_target(), levels, False)


def publishing_rule(round_: Round) -> PublishingRule:
    return PublishingRule(
        min_n_eff=round_.rule_min_n_eff,
        max_ci_width=round_.rule_max_ci_width,
        relative_width_above=round_.rule_relative_width_above,
        max_relative_width=round_.rule_max_relative_width,
        df_review=round_.rule_df_review,
    )


def unit_levels() -> list[UnitLevel]:
    return list(db.session.scalars(select(UnitLevel).order_by(UnitLevel.position)))


def _snapshot(round_: Round) -> dict[str, object]:
    targets = round_targets(round_)
    return {
        "target": round_.target,
        "level_targets": dict(sorted(targets.levels.items())),
        **{f"rule_{name}": getattr(round_, f"rule_{name}") for name in RULE_FIELDS},
    }


def update_result_settings(
    round_: Round,
    *,
    target: str,
    level_targets: dict[str, str],
    rule: dict[str, str],
    actor: User,
    now: datetime,
) -> None:
    """Store the round's target (empty: the province's default), the targets of the levels in
    ``level_targets`` (level code -> text; empty: the round's target) and the publishing rule
    (``RULE_FIELDS`` -> text). Every field is checked before anything is stored; the change is
    audited with before and after."""
    if round_.state == RoundState.PUBLISHED:
        raise ConflictError(
            str(_l("Đợt khảo sát đã công bố: mục tiêu và quy tắc công bố không đổi được nữa."))
        )
    errors: dict[str, str] = {}
    round_target: float | None = None
    if target.strip():
        try:
            round_target = parse_target(target)
        except ValueError as exc:
            errors["target"] = str(exc)
    known = {level.code for level in unit_levels()}
    levels: dict[str, float] = {}
    for code, text in level_targets.items():
        if code not in known:
            errors[f"level-{code}"] = str(_l("Không có cấp đơn vị này."))
        elif text.strip():
            try:
                levels[code] = parse_target(text)
            except ValueError as exc:
                errors[f"level-{code}"] = str(exc)
    values: dict[str, float] = {}
    for name in RULE_FIELDS:
        value = parse_number(rule.get(name))
        if value is None or value < 0 or (value == 0 and name != "relative_width_above"):
            errors[f"rule_{name}"] = str(
                _l("Nhập một số dương, ví dụ 30 hoặc 1,3 (dấu phẩy hay dấu chấm đều được).")
            )
        else:
            values[name] = value
    if len(values) == len(RULE_FIELDS):
        try:
            PublishingRule(**values)
        except ValueError:
            errors["rule_relative_width_above"] = str(
                _l(
                    "Ngưỡng áp dụng độ rộng tương đối phải nhỏ hơn độ rộng tối đa của khoảng "
                    "tin cậy."
                )
            )
    if errors:
        raise SettingsError(errors)
    before = _snapshot(round_)
    round_.target = round_target
    for name, value in values.items():
        setattr(round_, f"rule_{name}", value)
    db.session.execute(delete(RoundLevelTarget).where(RoundLevelTarget.round_id == round_.id))
    for code, value in levels.items():
        db.session.add(RoundLevelTarget(round_id=round_.id, level_code=code, target=value))
    db.session.flush()
    after = _snapshot(round_)
    if after != before:
        record_event(
            action="round.result_settings",
            entity_type="round",
            entity_id=round_.id,
            now=now,
            actor=actor,
            before=before,
            after=after,
        )
