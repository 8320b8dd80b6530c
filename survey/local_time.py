"""Vietnam time: the one local time of the product. Times are stored as naive UTC; they are
typed, shown and grouped by day in Vietnam time, which has been UTC+7 without daylight saving
since 1975 (the zone database still decides, so an old date converts as it was then)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def to_utc(local: datetime) -> datetime:
    """Naive Vietnam time -> naive UTC, as stored."""
    return local.replace(tzinfo=LOCAL_TZ).astimezone(UTC).replace(tzinfo=None)


def to_local(utc: datetime) -> datetime:
    """Naive UTC, as stored -> naive Vietnam time."""
    return utc.replace(tzinfo=UTC).astimezone(LOCAL_TZ).replace(tzinfo=None)


def utc_offset(at: datetime) -> timedelta:
    """Vietnam time's offset from UTC at the (naive UTC) moment ``at``."""
    return LOCAL_TZ.utcoffset(at) or timedelta(0)
