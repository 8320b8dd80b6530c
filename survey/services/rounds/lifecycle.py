"""Survey rounds: creating them, moving them through their states, finding the open one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import aliased, joinedload

from survey.errors import ConflictError, DomainError, IllegalTransitionError, NotFoundError
from survey.extensions import db
from survey.i18n import STATE_LABELS
from survey.models import (
    TRANSITIONS,
    CommentState,
    Desk,
    Round,
    RoundKind,
    RoundState,
    RoundUnit,
    Template,
    TemplateVersion,
    Unit,
    UnitLevel,
    User,
)
from survey.services.access import ForbiddenError
from survey.services.audit import record_event
from survey.services.questionnaires.templates import freeze_version
from survey.services.responses.comments import comment_counts
from survey.services.responses.counting import cell_counts, dossier_frame


def create_round(
    *,
    name: str,
    version: TemplateVersion,
    opens_at: datetime,
    closes_at: datetime,
    units: Iterable[tuple[Unit, int]],
    now: datetime,
    actor: User | None = None,
) -> Round:
    """A draft round over the given units, each with its target number of responses."""
    if closes_at <= opens_at:
        raise DomainError("The round must close after it opens.")
    round_ = Round(
        name=name,
        template_version=version,
        opens_at=opens_at,
        closes_at=closes_at,
        state=RoundState.DRAFT,
        created_at=now,
        # The target the questionnaire is usually held to (70 % for health and education, ...);
        # NULL keeps the province's default. Changed on the round's result settings.
        target=version.default_target,
    )
    for unit, target in units:
        if target < 0:
            raise DomainError(f"The target for unit {unit.code} cannot be negative.")
        round_.scope.append(RoundUnit(unit=unit, target_responses=target, unit_name=unit.name))
    if not round_.scope:
        raise DomainError("A round needs at least one unit in scope.")
    db.session.add(round_)
    db.session.flush()
    record_event(
        action="round.create",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        after={"name": name, "version_id": version.id, "units": len(round_.scope)},
    )
    return round_


def transition_round(
    round_: Round, target: RoundState, *, now: datetime, actor: User | None = None
) -> Round:
    """Move a round to ``target`` if that transition is legal; opening freezes its questionnaire
    and records the names units have at that moment."""
    current = RoundState(round_.state)
    if target not in TRANSITIONS[current]:
        raise IllegalTransitionError(f"A round cannot go from {current.value} to {target.value}.")
    if target == RoundState.OPEN:
        freeze_version(round_.template_version, now=now)
        for scoped in round_.scope:
            scoped.unit_name = scoped.unit.name
        round_.opened_at = round_.opened_at or now
    elif target == RoundState.CLOSED:
        round_.closed_at = now
    elif target == RoundState.PUBLISHED:
        round_.published_at = now
    round_.state = target.value
    db.session.flush()
    if target == RoundState.PUBLISHED:
        from survey.services.results.snapshots import freeze_round

        freeze_round(round_)
    record_event(
        action=f"round.{target.value}",
        entity_type="round",
        entity_id=round_.id,
        now=now,
        actor=actor,
        before={"state": current.value},
        after={"state": target.value},
    )
    return round_


def open_round_id(unit_id: Any, *, now: Any) -> Select[int]:
    """The id of the round a citizen at this unit's desks answers now: a QR round (a sampled
    round's answers come only through its invitations), open, within its period, unit in
    scope. When several overlap, the one opened last wins. ``unit_id`` may be a column and
    ``now`` a bound parameter, so that the submit path can build it into its one statement."""
    scoped = aliased(Round)
    return (
        select(scoped.id)
        .join(RoundUnit, RoundUnit.round_id == scoped.id)
        .where(
            RoundUnit.unit_id == unit_id,
            scoped.kind == RoundKind.QR.value,
            scoped.state == RoundState.OPEN,
            scoped.opens_at <= now,
            scoped.closes_at > now,
        )
        .order_by(scoped.opened_at.desc(), scoped.id.desc())
        .limit(1)
    )


def open_round_for_unit(unit_id: int, *, now: datetime) -> Round | None:
    """The open round for this unit now (see :func:`open_round_id`), with its questionnaire."""
    return db.session.scalar(
        select(Round)
        .where(Round.id == open_round_id(unit_id, now=now).scalar_subquery())
        .options(joinedload(Round.template_version))
    )


@dataclass(frozen=True)
class RoundRules:
    """What a citizen's submission needs of its round, as plain data read in one statement."""

    id: int
    state: str
    opens_at: datetime
    closes_at: datetime
    template_version_id: int
    version_frozen_at: datetime | None
    min_answer_seconds: int
    device_period_hours: int
    desk_limit_per_hour: int
    network_limit_per_hour: int

    @classmethod
    def of(cls, round_: Round) -> RoundRules:
        return cls(
            id=round_.id,
            state=round_.state,
            opens_at=round_.opens_at,
            closes_at=round_.closes_at,
            template_version_id=round_.template_version_id,
            version_frozen_at=round_.template_version.frozen_at,
            min_answer_seconds=round_.min_answer_seconds,
            device_period_hours=round_.device_period_hours,
            desk_limit_per_hour=round_.desk_limit_per_hour,
            network_limit_per_hour=round_.network_limit_per_hour,
        )

    @classmethod
    def from_row(cls, row: Any, **renamed: str) -> RoundRules:
        """From a result row holding these fields as columns; ``renamed`` names the columns
        labelled otherwise (``id="round_id"``)."""
        return cls(**{f.name: getattr(row, renamed.get(f.name, f.name)) for f in fields(cls)})

    def is_open(self, now: datetime) -> bool:
        return self.state == RoundState.OPEN and self.opens_at <= now < self.closes_at


def find_round(round_id: int | None) -> Round | None:
    """A round by id, or, without one, the round opened most recently."""
    if round_id is not None:
        return db.session.get(Round, round_id)
    return db.session.scalar(
        select(Round)
        .where(Round.opened_at.is_not(None))
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(1)
    )


# --- The console: drafting rounds and moving them through their states -----------------------


class RoundInputError(DomainError):
    """A round form describes something impossible; ``field`` names the form field to mark."""

    status = 422
    code = "invalid_round"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RoundDraft:
    """What the create and edit forms describe, before it is checked against the database."""

    name: str
    version_id: int
    opens_at: datetime  # naive UTC
    closes_at: datetime
    all_units: bool
    level_codes: tuple[str, ...]
    unit_ids: tuple[int, ...]
    default_target: int
    overrides: tuple[tuple[str, int], ...]  # (unit code, target), as typed
    min_answer_seconds: int = 10
    device_period_hours: int = 12
    desk_limit_per_hour: int = 240
    network_limit_per_hour: int = 240


@dataclass(frozen=True)
class RoundChoices:
    versions: list[TemplateVersion]
    levels: list[UnitLevel]
    units: list[Unit]


# Each console action names the state it starts from, so a crafted "open" on a closed round is
# refused rather than silently treated as a reopening.
ACTIONS: dict[str, tuple[RoundState, RoundState]] = {
    "open": (RoundState.DRAFT, RoundState.OPEN),
    "close": (RoundState.OPEN, RoundState.CLOSED),
    "reopen": (RoundState.CLOSED, RoundState.OPEN),
    "publish": (RoundState.CLOSED, RoundState.PUBLISHED),
}


def round_choices() -> RoundChoices:
    """Questionnaire versions, unit levels and active units a round can be drawn from."""
    versions = db.session.scalars(
        select(TemplateVersion)
        .join(Template)
        .options(joinedload(TemplateVersion.template))
        .order_by(Template.code, TemplateVersion.number.desc())
    ).all()
    levels = db.session.scalars(select(UnitLevel).order_by(UnitLevel.position, UnitLevel.code))
    units = db.session.scalars(
        select(Unit).join(UnitLevel).where(Unit.is_active).order_by(UnitLevel.position, Unit.code)
    )
    return RoundChoices(list(versions), list(levels), list(units))


def _resolve(draft: RoundDraft) -> tuple[TemplateVersion, list[tuple[Unit, int]]]:
    version = db.session.get(TemplateVersion, draft.version_id)
    if version is None:
        raise RoundInputError(
            "version_id", _l("Chọn một phiên bản phiếu khảo sát có trong danh sách.")
        )
    if draft.closes_at <= draft.opens_at:
        raise RoundInputError("closes_at", _l("Thời điểm kết thúc phải sau thời điểm bắt đầu."))
    query = select(Unit).where(Unit.is_active)
    if not draft.all_units:
        query = query.where(
            or_(Unit.level_code.in_(draft.level_codes), Unit.id.in_(draft.unit_ids))
        )
    units = {unit.code: unit for unit in db.session.scalars(query.order_by(Unit.code))}
    picked = {unit.id for unit in units.values()}
    # Ids that are not active units come from a stale page or a crafted form: say so.
    if set(draft.unit_ids) - picked:
        raise RoundInputError("unit_ids", _l("Có đơn vị không tồn tại hoặc đã ngừng hoạt động."))
    if not units:
        raise RoundInputError("unit_ids", _l("Chọn ít nhất một đơn vị tham gia đợt khảo sát."))
    targets = dict.fromkeys(units, draft.default_target)
    for code, target in draft.overrides:
        if code not in units:
            raise RoundInputError(
                "overrides",
                _l("Đơn vị %(code)s không thuộc phạm vi đợt khảo sát.", code=code),
            )
        targets[code] = target
    return version, [(units[code], targets[code]) for code in sorted(units)]


def _apply_settings(round_: Round, draft: RoundDraft) -> None:
    round_.min_answer_seconds = draft.min_answer_seconds
    round_.device_period_hours = draft.device_period_hours
    round_.desk_limit_per_hour = draft.desk_limit_per_hour
    round_.network_limit_per_hour = draft.network_limit_per_hour


def round_snapshot(round_: Round) -> dict[str, Any]:
    """The round's settings as the audit trail records them."""
    return {
        "name": round_.name,
        "version_id": round_.template_version_id,
        "opens_at": round_.opens_at.isoformat(),
        "closes_at": round_.closes_at.isoformat(),
        "targets": {scoped.unit.code: scoped.target_responses for scoped in round_.scope},
        "min_answer_seconds": round_.min_answer_seconds,
        "device_period_hours": round_.device_period_hours,
        "desk_limit_per_hour": round_.desk_limit_per_hour,
        "network_limit_per_hour": round_.network_limit_per_hour,
    }


def create_round_from_draft(draft: RoundDraft, *, now: datetime, actor: User) -> Round:
    version, units = _resolve(draft)
    round_ = create_round(
        name=draft.name,
        version=version,
        opens_at=draft.opens_at,
        closes_at=draft.closes_at,
        units=units,
        now=now,
        actor=actor,
    )
    _apply_settings(round_, draft)
    db.session.flush()
    return round_


def update_draft_round(round_: Round, draft: RoundDraft, *, now: datetime, actor: User) -> Round:
    """Change everything about a round that has not opened yet; its scope is replaced."""
    if round_.state != RoundState.DRAFT:
        raise ConflictError(_l("Chỉ sửa được đợt khảo sát còn ở trạng thái nháp."))
    version, units = _resolve(draft)
    before = round_snapshot(round_)
    round_.name = draft.name
    if round_.target == round_.template_version.default_target:
        # A target nobody changed follows the questionnaire it came from.
        round_.target = version.default_target
    round_.template_version = version
    round_.opens_at = draft.opens_at
    round_.closes_at = draft.closes_at
    _apply_settings(round_, draft)
    # Update in place: deleting and re-adding a row with the same key in one flush is fragile.
    existing = {scoped.unit_id: scoped for scoped in round_.scope}
    wanted = {unit.id: (unit, target) for unit, target in units}
    for unit_id, scoped in existing.items():
        if unit_id not in wanted:
            round_.scope.remove(scoped)
    for unit_id, (unit, target) in wanted.items():
        if unit_id in existing:
            existing[unit_id].target_responses = target
            existing[unit_id].unit_name = unit.name
        else:
            round_.scope.append(RoundUnit(unit=unit, target_responses=target, unit_name=unit.name))
    db.session.flush()
    after = round_snapshot(round_)
    if after != before:
        record_event(
            action="round.update",
            entity_type="round",
            entity_id=round_.id,
            now=now,
            actor=actor,
            before=before,
            after=after,
        )
    return round_


def apply_round_action(round_: Round, action: str, *, now: datetime, actor: User) -> Round:
    """Open, close, reopen or publish from the console; anything else is a 409."""
    if action not in ACTIONS:
        raise NotFoundError(_l("Không có thao tác này."))
    source, target = ACTIONS[action]
    if round_.state != source:
        raise IllegalTransitionError(
            _l(
                "Không thể thực hiện: đợt khảo sát đang ở trạng thái “%(state)s”.",
                state=STATE_LABELS.get(round_.state, round_.state),
            )
        )
    return transition_round(round_, target, now=now, actor=actor)


def visible_round(round_id: int, unit_ids: set[int] | None, *, lock: bool = False) -> Round:
    """The round, if it exists and (for a unit officer) includes one of their units."""
    query = select(Round).where(Round.id == round_id)
    if lock:
        query = query.with_for_update()
    round_ = db.session.scalar(query)
    if round_ is None:
        raise NotFoundError(_l("Không tìm thấy đợt khảo sát."))
    if unit_ids is not None and not any(s.unit_id in unit_ids for s in round_.scope):
        raise ForbiddenError(_l("Đợt khảo sát này không gồm đơn vị của bạn."))
    return round_


def scope_of(round_: Round, unit_ids: set[int] | None) -> list[RoundUnit]:
    """The round's units that the reader may see, by code."""
    return sorted(
        (s for s in round_.scope if unit_ids is None or s.unit_id in unit_ids),
        key=lambda s: s.unit.code,
    )


def rounds_for(unit_ids: set[int] | None) -> list[Round]:
    """Every round (newest first), or for a unit officer those that include their units."""
    query = select(Round).order_by(Round.created_at.desc(), Round.id.desc())
    if unit_ids is not None:
        query = query.where(
            Round.id.in_(select(RoundUnit.round_id).where(RoundUnit.unit_id.in_(unit_ids)))
        )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class ActionCheck:
    """What an administrator should know before confirming a state change."""

    period_ended: bool = False
    not_started: bool = False
    units_without_desks: tuple[str, ...] = ()
    units_in_other_open_rounds: tuple[str, ...] = ()
    cells_without_count: int = 0
    no_frame: bool = False
    comments_pending: int = 0  # published results with comments nobody has moderated yet


def action_warnings(round_: Round, action: str, *, now: datetime) -> ActionCheck:
    if action in ("open", "reopen"):
        scope_ids = [s.unit_id for s in round_.scope]
        with_desks = set(
            db.session.scalars(
                select(Desk.unit_id).where(Desk.unit_id.in_(scope_ids), Desk.is_active)
            )
        )
        elsewhere = db.session.scalars(
            select(Unit.code)
            .join(RoundUnit, RoundUnit.unit_id == Unit.id)
            .join(Round, Round.id == RoundUnit.round_id)
            .where(
                Unit.id.in_(scope_ids),
                Round.id != round_.id,
                Round.state == RoundState.OPEN,
                Round.opens_at < round_.closes_at,
                Round.closes_at > round_.opens_at,
            )
            .distinct()
            .order_by(Unit.code)
        )
        return ActionCheck(
            period_ended=round_.closes_at <= now,
            not_started=round_.opens_at > now,
            units_without_desks=tuple(
                sorted(s.unit.code for s in round_.scope if s.unit_id not in with_desks)
            ),
            units_in_other_open_rounds=tuple(elsewhere),
        )
    if action == "publish":
        counts = cell_counts(round_)
        frame = dossier_frame(round_)
        return ActionCheck(
            cells_without_count=sum(1 for cell in counts if not frame.get(cell)),
            no_frame=not frame,
            comments_pending=comment_counts(round_)[CommentState.PENDING],
        )
    return ActionCheck()
