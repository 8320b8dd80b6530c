"""Staff accounts: creation with a password policy, authentication."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from survey.errors import ConflictError, DomainError
from survey.extensions import db, login_manager
from survey.models import Role, Unit, User
from survey.services.audit import record_event

MIN_PASSWORD_LENGTH = 10
# Checked against even when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if password.isdigit() or password.isalpha():
        raise DomainError("The password must mix letters with digits or symbols.")


def create_user(
    *,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    unit: Unit | None = None,
    display_name: str = "",
    actor: User | None = None,
) -> User:
    username = username.strip().lower()
    if not username:
        raise DomainError("A username is required.")
    if role == Role.UNIT_OFFICER and unit is None:
        raise DomainError("A unit officer must belong to a unit.")
    check_password_policy(password)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"The username {username!r} is taken.")
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role.value,
        unit=unit,
        display_name=display_name,
        created_at=now,
    )
    db.session.add(user)
    db.session.flush()
    record_event(
        action="user.create",
        entity_type="user",
        entity_id=user.id,
        now=now,
        actor=actor,
        after={"username": username, "role": role.value, "unit": unit.code if unit else None},
    )
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.is_active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None
