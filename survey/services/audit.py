"""Recording staff changes in the append-only audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from survey.extensions import db
from survey.models import AuditEvent, User


def record_event(
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    now: datetime,
    actor: User | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEvent:
    event = AuditEvent(
        occurred_at=now,
        actor_id=actor.id if actor is not None else None,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=before,
        after=after,
        note=note,
    )
    db.session.add(event)
    db.session.flush()
    return event
