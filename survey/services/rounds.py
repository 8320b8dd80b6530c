"""Survey rounds: creating them, moving them through their states, finding the open one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from survey.errors import DomainError, IllegalTransitionError
from survey.extensions import db
from survey.models import TRANSITIONS, Round, RoundState, RoundUnit, TemplateVersion, Unit, User
from survey.services.audit import record_event
from survey.services.templates import freeze_version


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


def open_round_for_unit(unit_id: int, *, now: datetime) -> Round | None:
    """The round a citizen at this unit answers now: open, within its period, unit in scope.
    When several overlap, the one opened last wins."""
    return db.session.scalar(
        select(Round)
        .join(RoundUnit)
        .where(
            RoundUnit.unit_id == unit_id,
            Round.state == RoundState.OPEN,
            Round.opens_at <= now,
            Round.closes_at > now,
        )
        .order_by(Round.opened_at.desc(), Round.id.desc())
        .limit(1)
        .options(joinedload(Round.template_version))
    )


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
