"""Staff accounts: a role, and for unit officers the unit they may see."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow
from survey.models.org import Unit


class Role(enum.StrEnum):
    ADMIN = "admin"  # Sở Nội vụ: everything
    UNIT_OFFICER = "unit_officer"  # their unit and its sub-units only
    ANALYST = "analyst"  # all results and exports, no configuration


class User(UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'unit_officer', 'analyst')", name="role"),
        CheckConstraint("role <> 'unit_officer' OR unit_id IS NOT NULL", name="officer_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised when the user signs out or changes or resets a password: every session cookie
    # carries the version it was opened with, so all of them end at once, on every device.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit | None] = relationship()

    def get_id(self) -> str:
        """What the session cookie remembers: the account, its session version and a fingerprint
        of its (salted) password hash (Flask-Login's "alternative token"). Signing out raises the
        version and a changed password changes the fingerprint: either way every session opened
        before, copied cookies included, no longer matches and is signed out."""
        fingerprint = hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]
        return f"{self.id}.{self.session_version}.{fingerprint}"
