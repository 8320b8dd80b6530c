"""Staff accounts: creation with a password policy, authentication, deactivation, passwords."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from survey.errors import DomainError, NotFoundError
from survey.extensions import db, login_manager
from survey.models import Role, Unit, User
from survey.services.accounts.api_tokens import revoke_tokens_of
from survey.services.audit import record_event

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
USERNAME_RULE = _l(
    "Tên đăng nhập gồm 3 đến 64 ký tự: chữ thường không dấu, chữ số, dấu chấm, gạch ngang "
    "hoặc gạch dưới, bắt đầu bằng chữ hoặc số."
)


@cache
def _dummy_hash() -> str:
    """Checked against even when the user does not exist, so timing does not reveal usernames.
    Made on first use: a scrypt hash costs a tenth of a second at every start-up otherwise."""
    return generate_password_hash("not-a-real-password")


class UserInputError(DomainError):
    """One field of an account form is wrong; ``field`` names it so the page can say so beside
    the field."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def hash_password(password: str) -> str:
    """The stored form of a password, with the configured key-derivation function."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


# Words an attacker tries first on this system: its name and the department's, and "password".
# Compared folded (no accents, case or punctuation); shown to the user as written here.
CONTEXT_WORDS = ("hài lòng", "sở nội vụ", "mật khẩu")
# Fewer characters than this that neither repeat a recent one nor continue a sequence (abcd,
# 4321) and the password is a pattern, not a secret: aaaaaaaaa1 has 2, mat-khau-2026 has 11.
MIN_SURPRISING_CHARACTERS = 5
_COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
_ENDS = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (source and licence at the top of the file)."""
    with _COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(
            line.strip() for line in lines if line.strip() and not line.startswith("#")
        )


def _fold(text: str) -> str:
    """Lower case without accents, spaces or punctuation: "Sở Nội vụ" -> "sonoivu"."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("đ", "d"))
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def _surprising_characters(password: str) -> int:
    """Characters that neither repeat one of the four before them, nor continue a sequence
    stepping by one (abcd, 4321), nor repeat a block: counted for each block length up to 8
    ("hello" in hellohellohello), the least count kept."""
    text = password.lower()

    def count(period: int) -> int:
        found = 0
        for i, char in enumerate(text):
            repeats = char in text[max(0, i - 4) : i] or (i >= period and text[i - period] == char)
            step = ord(char) - ord(text[i - 1]) if i else 0
            before = ord(text[i - 1]) - ord(text[i - 2]) if i >= 2 else step
            if not (repeats or (abs(step) == 1 and before == step)):
                found += 1
        return found

    return min(count(period) for period in range(5, 9))


def check_password_policy(password: str, *, username: str = "") -> None:
    """NIST SP 800-63B 3.1.1.2: a minimum length and a list of refused passwords, no composition
    rules. Refused: fewer than ``MIN_PASSWORD_LENGTH`` characters once outer spaces are stripped;
    a common password (or one with only digits or symbols around a common one, as password12);
    a repetitive or sequential string; the username or a word of ``CONTEXT_WORDS``."""
    if len(unicodedata.normalize("NFC", password.strip())) < MIN_PASSWORD_LENGTH:
        raise UserInputError(
            "password",
            _l(
                "Mật khẩu phải có ít nhất %(n)s ký tự, không kể khoảng trắng ở đầu và cuối.",
                n=MIN_PASSWORD_LENGTH,
            ),
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserInputError(
            "password", _l("Mật khẩu dài tối đa %(n)s ký tự.", n=MAX_PASSWORD_LENGTH)
        )
    lowered, folded = password.strip().lower(), _fold(password)
    name = username.strip().lower()
    if name and (name in lowered or (len(_fold(name)) >= 4 and _fold(name) in folded)):
        raise UserInputError("password", _l("Mật khẩu không được chứa tên đăng nhập."))
    for word in CONTEXT_WORDS:
        if _fold(word) in folded:
            raise UserInputError(
                "password",
                _l("Mật khẩu không được chứa “%(word)s” (viết cách nào cũng vậy).", word=word),
            )
    if {lowered, folded, _ENDS.sub("", lowered)} & common_passwords():
        raise UserInputError(
            "password",
            _l(
                "Mật khẩu này nằm trong danh sách mật khẩu phổ biến mà kẻ gian thử đầu tiên. "
                "Hãy chọn mật khẩu khác, ví dụ một câu ngắn dễ nhớ."
            ),
        )
    if _surprising_characters(password.strip()) < MIN_SURPRISING_CHARACTERS:
        raise UserInputError(
            "password",
            _l(
                "Mật khẩu chỉ gồm ký tự lặp lại hoặc theo thứ tự (như aaaa, 1234, abcd) nên dễ "
                "đoán. Hãy chọn mật khẩu khác."
            ),
        )


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
    if not USERNAME.match(username):
        raise UserInputError("username", USERNAME_RULE)
    if role == Role.UNIT_OFFICER and unit is None:
        raise UserInputError("unit_id", _l("Cán bộ đơn vị phải thuộc một đơn vị."))
    if role == Role.UNIT_OFFICER and unit is not None and not unit.is_active:
        raise UserInputError("unit_id", _l("Đơn vị này đã ngừng hoạt động."))
    if role != Role.UNIT_OFFICER:
        unit = None  # only unit officers are scoped to a unit
    check_password_policy(password, username=username)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserInputError(
            "username", _l("Tên đăng nhập %(name)s đã có người dùng.", name=username)
        )
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role.value,
        unit=unit,
        display_name=display_name.strip(),
        is_active=True,
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
        after=_snapshot(user),
    )
    return user


def create_account(
    *,
    username: str,
    password: str,
    role: Role,
    unit_id: int,
    display_name: str,
    now: datetime,
    actor: User,
) -> User:
    """An account made in the console; ``unit_id`` 0 means none, and any other id must be an
    active unit (a forged id is reported, not stored)."""
    unit = None
    if unit_id:
        unit = db.session.get(Unit, unit_id)
        if unit is None or not unit.is_active:
            raise UserInputError("unit_id", _l("Chọn một đơn vị đang hoạt động trong danh sách."))
    return create_user(
        username=username,
        password=password,
        role=role,
        now=now,
        unit=unit,
        display_name=display_name,
        actor=actor,
    )


def _snapshot(user: User) -> dict[str, object]:
    """What the audit trail keeps of an account: never the password hash."""
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit": user.unit.code if user.unit is not None else None,
        "is_active": user.is_active,
    }


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError(_l("Không tìm thấy tài khoản."))
    return user


def list_users(search: str, page: int, per_page: int) -> Pagination:
    """Accounts by username; ``search`` matches part of the username or display name."""
    query = select(User).order_by(User.username)
    search = search.strip().lower()
    if search:
        query = query.where(
            or_(
                User.username.contains(search, autoescape=True),
                func.lower(User.display_name).contains(search, autoescape=True),
            )
        )
    found = db.paginate(query, page=max(page, 1), per_page=per_page, error_out=False)
    if page > 1 and not found.items and found.total:
        # A page past the end (an old link after deactivations): show the last one.
        found = db.paginate(query, page=found.pages, per_page=per_page, error_out=False)
    return found


def unit_choices() -> list[Unit]:
    """Units an officer can be assigned to."""
    return list(db.session.scalars(select(Unit).where(Unit.is_active).order_by(Unit.code)))


def set_active(user: User, active: bool, *, actor: User, now: datetime) -> None:
    """Deactivate or reactivate ``user``. A deactivated account cannot sign in, its open
    sessions end on their next request (the user loader refuses inactive users, and the session
    version is raised so they stay ended after reactivation) and its API tokens are revoked for
    good."""
    if not active and user.id == actor.id:
        raise UserInputError("confirm", _l("Bạn không thể tự khoá tài khoản của mình."))
    if user.is_active == active:
        return
    before = _snapshot(user)
    user.is_active = active
    if not active:
        end_sessions(user)
        revoke_tokens_of(user, actor=actor, now=now)
    db.session.flush()
    record_event(
        action="user.reactivate" if active else "user.deactivate",
        entity_type="user",
        entity_id=user.id,
        now=now,
        actor=actor,
        before=before,
        after=_snapshot(user),
    )


def reset_password(user: User, password: str, *, actor: User, now: datetime) -> None:
    """An administrator sets a new password for ``user``; the user's open sessions end."""
    check_password_policy(password, username=user.username)
    user.password_hash = hash_password(password)
    end_sessions(user)
    db.session.flush()
    record_event(
        action="user.password_reset",
        entity_type="user",
        entity_id=user.id,
        now=now,
        actor=actor,
        note=f"password of {user.username} reset",
    )


def change_own_password(user: User, current: str, new: str, *, now: datetime) -> None:
    """The signed-in user replaces their password; the current one is required."""
    if not check_password_hash(user.password_hash, current):
        raise UserInputError("current_password", _l("Mật khẩu hiện tại không đúng."))
    if new == current:
        raise UserInputError("password", _l("Mật khẩu mới phải khác mật khẩu hiện tại."))
    check_password_policy(new, username=user.username)
    user.password_hash = hash_password(new)
    end_sessions(user)
    db.session.flush()
    record_event(
        action="user.password_change",
        entity_type="user",
        entity_id=user.id,
        now=now,
        actor=user,
        note=f"{user.username} changed their password",
    )


def end_sessions(user: User) -> None:
    """Sign ``user`` out everywhere: every session cookie issued before, on any device and any
    copy of it, carries the old session version and is refused from its next request."""
    user.session_version += 1


def sign_out(user: User) -> None:
    """The user signs out: this session and every other one of the account end."""
    end_sessions(user)
    db.session.flush()


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.is_active:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    number = user_id.partition(".")[0]
    # ids are "<id>.<session version>.<password fingerprint>" (User.get_id)
    if not (number.isascii() and number.isdigit()):
        return None
    user = db.session.get(User, int(number))
    # An old session id (an earlier password, or none) no longer matches: signed out.
    if user is None or not user.is_active or user.get_id() != user_id:
        return None
    return user
