"""Sampled rounds: the frame of completed dossiers, the recorded draw, and the invitations.

A round of kind ``sample`` (shared/domain.md, "Probability-sample rounds") draws dossiers at
random from the frame, stratified by unit x service area (``analysis.sampling``), and invites
each sampled dossier by letter with a one-time code. Dossier codes and one-time codes are kept
only as keyed hashes; the letter's reference number is not a secret.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow
from survey.models.org import ServiceArea, Unit

DEFAULT_TRIM_RATIO = 3.5


class RoundKind(enum.StrEnum):
    QR = "qr"
    SAMPLE = "sample"


class AllocationMethod(enum.StrEnum):
    PROPORTIONAL = "proportional"
    EQUAL = "equal"
    MINIMUM = "minimum"


class InvitationState(enum.StrEnum):
    ISSUED = "issued"
    ANSWERED = "answered"
    REFUSED = "refused"
    UNDELIVERABLE = "undeliverable"


class AnswerMode(enum.StrEnum):
    SELF_WEB = "self_web"
    PAPER = "paper"
    PHONE = "phone"
    FACE_TO_FACE = "face_to_face"


def _values(kind: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in kind)


class SampleFrameRow(Base):
    """One completed dossier of the frame: its keyed code hash, unit, area and completion date."""

    __tablename__ = "sample_frame_rows"
    __table_args__ = (UniqueConstraint("round_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_areas.id"))
    completed_on: Mapped[date]

    unit: Mapped[Unit] = relationship()
    service_area: Mapped[ServiceArea] = relationship()


class SampleDraw(Base):
    """A round's draw, once: the seed and the allocation that reproduce it."""

    __tablename__ = "sample_draws"
    __table_args__ = (
        CheckConstraint(f"allocation IN ({_values(AllocationMethod)})", name="allocation"),
        CheckConstraint("total >= 1", name="total"),
        CheckConstraint("minimum >= 0", name="minimum"),
        CheckConstraint("seed >= 0", name="seed"),
        CheckConstraint("trim_ratio IS NULL OR trim_ratio >= 1", name="trim_ratio"),
    )

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    allocation: Mapped[str] = mapped_column(String(16))
    total: Mapped[int]
    minimum: Mapped[int] = mapped_column(default=0)
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Paper and interview answers are entered twice, by two clerks, and a third resolves any
    # difference before the answer counts.
    double_entry: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Weights above trim_ratio x the median are trimmed (None: not trimmed); stated with the draw
    # so that the rule is fixed before any answer is seen.
    trim_ratio: Mapped[float | None] = mapped_column(Float, default=DEFAULT_TRIM_RATIO)


class SampleStratum(Base):
    """A stratum of the draw: N_h dossiers in the frame, n_h of them sampled."""

    __tablename__ = "sample_strata"
    __table_args__ = (
        CheckConstraint("population >= 1", name="population"),
        CheckConstraint("sample_size >= 0 AND sample_size <= population", name="sample_size"),
    )

    round_id: Mapped[int] = mapped_column(ForeignKey("sample_draws.round_id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_areas.id"), primary_key=True)
    population: Mapped[int]
    sample_size: Mapped[int]


class Invitation(Base):
    """One sampled dossier's invitation: a hash of its one-time code, the letter's reference
    number, and what came of it (with the mode of the answer once one is entered)."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("round_id", "reference"),
        UniqueConstraint("code_hash"),
        UniqueConstraint("frame_row_id"),
        CheckConstraint(f"state IN ({_values(InvitationState)})", name="state"),
        CheckConstraint(f"mode IS NULL OR mode IN ({_values(AnswerMode)})", name="mode"),
        CheckConstraint("(state = 'answered') = (mode IS NOT NULL)", name="answered_mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    frame_row_id: Mapped[int] = mapped_column(ForeignKey("sample_frame_rows.id"))
    reference: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=InvitationState.ISSUED)
    mode: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None]

    frame_row: Mapped[SampleFrameRow] = relationship()


class InvitationEntry(Base):
    """One clerk's entry of a paper form or interview, held until the double entry agrees (or a
    third person resolves it); then the response is recorded and the entries are deleted, so no
    answer stays linked to its invitation."""

    __tablename__ = "invitation_entries"
    __table_args__ = (
        UniqueConstraint("invitation_id", "clerk_id"),
        CheckConstraint(f"mode IN ({_values(AnswerMode)})", name="mode"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), index=True)
    clerk_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    mode: Mapped[str] = mapped_column(String(16))
    answers: Mapped[str] = mapped_column(Text)  # JSON: field name -> the values as posted
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
