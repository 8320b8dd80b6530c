"""API tokens: created and revoked by administrators, each acting for one staff account.

The token is shown once, at creation; the database keeps its SHA-256 only. A token is 256 random
bits, so a fast unsalted hash is enough (nothing to guess from it) and lets a request find its
token with one indexed lookup. A token stops working when revoked or when its account is
deactivated; it acts with the account's current role and unit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from survey.errors import ConflictError, NotFoundError
from survey.extensions import db
from survey.models import ApiToken, User
from survey.services.audit import record_event
from survey.services.paging import Page

TOKEN_PREFIX = "hl_"  # noqa: S105  (a marker in front of every token, not a secret)
# Writing the last use on every request would turn each read into a write; a few minutes of
# precision is all an administrator needs to see which tokens are alive.
LAST_USED_PRECISION = timedelta(minutes=5)
# A token lives 90 days unless chosen otherwise, at most a year: a leaked token that nobody
# revokes stops by itself, and a script's owner renews it at a date they can plan for.
DEFAULT_LIFETIME_DAYS = 90
MAX_LIFETIME_DAYS = 365


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    user: User,
    name: str,
    *,
    actor: User,
    now: datetime,
    lifetime_days: int = DEFAULT_LIFETIME_DAYS,
) -> NewToken:
    if not user.is_active:
        raise ConflictError(str(_l("Tài khoản đã bị khoá: không tạo được mã truy cập.")))
    if not 1 <= lifetime_days <= MAX_LIFETIME_DAYS:
        raise ConflictError(str(_l("Thời hạn của mã từ 1 đến %(n)s ngày.", n=MAX_LIFETIME_DAYS)))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        token_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now,
        created_by_id=actor.id,
        expires_at=now + timedelta(days=lifetime_days),
    )
    db.session.add(token)
    db.session.flush()
    record_event(
        action="api_token.create",
        entity_type="api_token",
        entity_id=token.id,
        now=now,
        actor=actor,
        after={
            "name": token.name,
            "user": user.username,
            "role": user.role,
            "prefix": token.prefix,
            "expires_at": token.expires_at.isoformat(timespec="seconds"),
        },
    )
    return NewToken(token, secret)


def revoke_token(token: ApiToken, *, actor: User, now: datetime) -> None:
    if token.revoked_at is not None:
        raise ConflictError(str(_l("Mã truy cập này đã bị thu hồi.")))
    token.revoked_at = now
    db.session.flush()
    record_event(
        action="api_token.revoke",
        entity_type="api_token",
        entity_id=token.id,
        now=now,
        actor=actor,
        before={"revoked": False},
        after={"revoked": True, "name": token.name, "prefix": token.prefix},
    )


def revoke_tokens_of(user: User, *, actor: User, now: datetime) -> int:
    """Revoke every live token of ``user`` (when the account is deactivated): revoked tokens
    stay revoked, so reactivating the account brings none back. Returns how many."""
    live = list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        )
    )
    for token in live:
        revoke_token(token, actor=actor, now=now)
    return len(live)


def get_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(_l("Không tìm thấy mã truy cập."))
    return token


def tokens_page(page: int, per_page: int) -> Page[ApiToken]:
    """Every token, live ones first, newest first."""
    total = db.session.scalar(select(func.count(ApiToken.id))) or 0
    last = max(1, -(-total // per_page))
    page = min(max(1, page), last)
    rows = db.session.scalars(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return Page(list(rows), page, per_page, total)


def active_users() -> list[User]:
    return list(db.session.scalars(select(User).where(User.is_active).order_by(User.username)))


def authenticate_token(secret: str, *, now: datetime) -> ApiToken | None:
    """The live token ``secret`` stands for, or None (unknown, expired, revoked, account
    deactivated)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(
        select(ApiToken)
        .options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == hash_token(secret))
    )
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= now
        or not token.user.is_active
    ):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        token.last_used_at = now
        db.session.flush()
    return token
