"""Operating figures for ``flask stats``: responses per hour, and the error rates the app itself
records.

What is recorded, hence what can be counted: every stored response with its status (counted or
excluded, with the exclusion's reason) and the audit trail (failed and locked logins among it).
HTTP errors are not stored in the database: each request's status is in the JSON request log
(one line per request, see survey/ops.py), which is where 5xx rates come from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from survey.extensions import db
from survey.local_time import to_local
from survey.models import AuditEvent, Response, ResponseStatus, Round


@dataclass(frozen=True)
class HourRow:
    hour: datetime  # start of the hour, local time
    counted: int
    excluded: int
    login_failures: int

    @property
    def excluded_share(self) -> float | None:
        total = self.counted + self.excluded
        return self.excluded / total if total else None


@dataclass(frozen=True)
class Stats:
    round_id: int | None
    since: datetime  # local time
    hours: list[HourRow]
    exclusion_reasons: Counter[str] = field(default_factory=Counter)

    @property
    def counted(self) -> int:
        return sum(h.counted for h in self.hours)

    @property
    def excluded(self) -> int:
        return sum(h.excluded for h in self.hours)

    @property
    def login_failures(self) -> int:
        return sum(h.login_failures for h in self.hours)


def _reason_kind(reason: str | None) -> str:
    # Reasons carry numbers ("answered in 4 s, under the round's minimum of 20 s"): group them
    # by their words before the first figure.
    words = (reason or "no reason").split(" in ")[0].split("(")[0]
    return "".join(c for c in words if not c.isdigit()).strip() or "no reason"


def hourly_stats(
    *, now: datetime, hours: int, round_: Round | None
) -> Stats:
    """Responses (counted / excluded) and failed logins per hour for the last ``hours`` hours
    before ``now`` (naive UTC, as stored), one row per hour including empty ones, in local time."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    buckets: dict[datetime, list[int]] = {
        start + timedelta(hours=n): [0, 0, 0] for n in range(hours)
    }
    reasons: Counter[str] = Counter()
    query = select(Response.received_at, Response.status, Response.exclusion_reason).where(
        Response.received_at >= start, Response.received_at < end
    )
    if round_ is not None:
        query = query.where(Response.round_id == round_.id)
    for received_at, status, reason in db.session.execute(query):
        slot = buckets[received_at.replace(minute=0, second=0, microsecond=0)]
        if status == ResponseStatus.EXCLUDED:
            slot[1] += 1
            reasons[_reason_kind(reason)] += 1
        else:
            slot[0] += 1
    for occurred_at in db.session.scalars(
        select(AuditEvent.occurred_at).where(
            AuditEvent.action.in_(("login.failed", "login.locked")),
            AuditEvent.occurred_at >= start,
            AuditEvent.occurred_at < end,
        )
    ):
        buckets[occurred_at.replace(minute=0, second=0, microsecond=0)][2] += 1

    rows = [HourRow(to_local(hour), *counts) for hour, counts in sorted(buckets.items())]
    return Stats(round_.id if round_ else None, to_local(start), rows, reasons)
