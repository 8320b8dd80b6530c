"""The organisation of a province: units (a tree that reforms merge and rename), service
areas, desks."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, String, Table
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow

unit_service_areas = Table(
    "unit_service_areas",
    Base.metadata,
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
    Column("service_area_id", ForeignKey("service_areas.id", ondelete="CASCADE"), primary_key=True),
)

desk_service_areas = Table(
    "desk_service_areas",
    Base.metadata,
    Column("desk_id", ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True),
    Column("service_area_id", ForeignKey("service_areas.id", ondelete="CASCADE"), primary_key=True),
)


def new_desk_token() -> str:
    """32 random bytes, URL-safe: unguessable, and short enough for a QR code of modest size."""
    return secrets.token_urlsafe(32)


class UnitLevel(Base):
    """Administrative levels are data: the 2025 reform abolished districts, others may follow."""

    __tablename__ = "unit_levels"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)


class Unit(Base):
    __tablename__ = "units"
    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("successor_id IS NULL OR successor_id <> id", name="not_own_successor"),
        CheckConstraint("code <> ''", name="code_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    level_code: Mapped[str] = mapped_column(ForeignKey("unit_levels.code"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    successor_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    level: Mapped[UnitLevel] = relationship()
    parent: Mapped[Unit | None] = relationship(
        remote_side=[id], foreign_keys=[parent_id], back_populates="children"
    )
    children: Mapped[list[Unit]] = relationship(foreign_keys=[parent_id], back_populates="parent")
    successor: Mapped[Unit | None] = relationship(remote_side=[id], foreign_keys=[successor_id])
    service_areas: Mapped[list[ServiceArea]] = relationship(
        secondary=unit_service_areas, order_by="ServiceArea.code"
    )
    desks: Mapped[list[Desk]] = relationship(back_populates="unit", order_by="Desk.name")


class ServiceArea(Base):
    """Lĩnh vực: land, construction, civil status, business registration..."""

    __tablename__ = "service_areas"
    __table_args__ = (CheckConstraint("code <> ''", name="code_not_empty"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_en: Mapped[str] = mapped_column(String(300), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Desk(Base):
    """A reception desk (quầy). Citizens reach it only through its token, never through its id."""

    __tablename__ = "desks"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    token: Mapped[str] = mapped_column(String(64), unique=True, default=new_desk_token)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # When set, a citizen must type the dossier code printed on their receipt; each code answers
    # once per round and is kept only as a keyed hash.
    requires_dossier_code: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )
    token_issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[Unit] = relationship(back_populates="desks")
    # Empty means the desk serves every area of its unit.
    service_areas: Mapped[list[ServiceArea]] = relationship(
        secondary=desk_service_areas, order_by="ServiceArea.code"
    )
