"""Layers against ballot stuffing, each configured per round (or per desk for dossier codes).

Nothing here throws a real answer away: a submission that looks automated (honeypot filled, or
answered faster than the round's minimum) or that repeats a device within the round's period is
stored with status ``excluded`` and its reason, so it never counts but an administrator can still
restore it. Rate limits and used dossier codes refuse the submission openly instead.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from limits import RateLimitItemPerHour
from sqlalchemy import select

from survey.extensions import db
from survey.models import DossierCodeUse, Round
from survey.services.ratelimits import Counter
from survey.services.rounds.lifecycle import RoundRules

DOSSIER_CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9./-]{3,39}$")


@dataclass(frozen=True)
class Suspicion:
    """Why a submission is stored but not counted; None of these means it counts."""

    reason: str


def client_network(remote_addr: str | None) -> str:
    """The client's network, not its address: /24 for IPv4, /64 for IPv6. Phones behind one
    office Wi-Fi or carrier NAT share it, which is why its limit is generous."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return "unknown"
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def keyed_hash(value: str, key: bytes) -> str:
    """HMAC-SHA256 hex: stable for the server, meaningless to anyone without the key."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def server_key(name: str) -> bytes:
    """The configured key ``name`` (NETWORK_KEY, DOSSIER_CODE_KEY), or one derived from
    SECRET_KEY so that it differs from the session-signing key itself."""
    configured = current_app.config.get(name)
    if configured:
        return str(configured).encode()
    return hmac.new(
        str(current_app.config["SECRET_KEY"]).encode(), name.encode(), hashlib.sha256
    ).digest()


def dossier_code_hash(code: str) -> str:
    """A normalised dossier code as kept: HMAC-SHA256 under DOSSIER_CODE_KEY."""
    return keyed_hash(code, server_key("DOSSIER_CODE_KEY"))


def suspicion(
    *, honeypot: str, elapsed_seconds: float, round_: Round | RoundRules, repeat_device: bool
) -> Suspicion | None:
    if honeypot.strip():
        return Suspicion("honeypot field filled (automated submission)")
    if round_.min_answer_seconds and elapsed_seconds < round_.min_answer_seconds:
        return Suspicion(
            f"answered in {elapsed_seconds:.0f} s, under the round's minimum of "
            f"{round_.min_answer_seconds} s"
        )
    if repeat_device:
        return Suspicion(f"same device answered this desk within {round_.device_period_hours} h")
    return None


# The reasons above are stored in English, as written (``flask stats`` groups them and exports
# keep them); a page shows them in its language.
_REASON_LABELS = (
    (re.compile(r"honeypot field filled\b.*"), _l("trường ẩn chống máy đã bị điền (gửi tự động)")),
    (
        re.compile(
            r"answered in (?P<seconds>\d+) s, under the round's minimum of (?P<minimum>\d+) s"
        ),
        _l("trả lời trong %(seconds)s giây, dưới mức tối thiểu %(minimum)s giây của đợt"),
    ),
    (
        re.compile(r"same device answered this desk within (?P<hours>\d+) h"),
        _l("cùng một thiết bị đã trả lời quầy này trong vòng %(hours)s giờ"),
    ),
)


def reason_label(reason: str | None) -> str:
    """An exclusion reason in the page's language: the automatic ones translated, a reason an
    administrator typed shown as typed."""
    for pattern, label in _REASON_LABELS:
        found = pattern.fullmatch(reason or "")
        if found:
            return str(label) % found.groupdict()
    return reason or ""


def within_rate_limits(
    counter: Counter,
    *,
    round_: Round | RoundRules,
    desk_id: int,
    network_key: str,
    namespace: str = "",
) -> bool:
    """Count one submission against the desk's and the network's hourly limits. ``namespace``
    separates deployments (or test runs) that share one Redis."""
    return counter.hit_all(
        [
            (
                RateLimitItemPerHour(round_.desk_limit_per_hour),
                (namespace, "submit-desk", str(round_.id), str(desk_id)),
            ),
            (
                RateLimitItemPerHour(round_.network_limit_per_hour),
                (namespace, "submit-net", str(round_.id), network_key),
            ),
        ]
    )


def normalise_dossier_code(raw: str) -> str | None:
    """Upper-case, spaces removed; None when it cannot be a dossier code."""
    code = re.sub(r"\s+", "", raw or "").upper()
    return code if DOSSIER_CODE_PATTERN.match(code) else None


def dossier_code_used(round_id: int, code_hash: str) -> bool:
    return (
        db.session.scalar(
            select(DossierCodeUse.round_id).where(
                DossierCodeUse.round_id == round_id, DossierCodeUse.code_hash == code_hash
            )
        )
        is not None
    )
