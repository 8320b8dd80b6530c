"""Responses and their answers, one row per answer (never answer_01..answer_30 columns)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow

# BIGINT on PostgreSQL where a national deployment can pass 2^31 answers; SQLite needs INTEGER
# for its rowid alias to autoincrement.
BigId = BigInteger().with_variant(Integer, "sqlite")


class Channel(enum.StrEnum):
    QR = "qr"
    KIOSK = "kiosk"
    WEB = "web"
    PAPER = "paper"


class ResponseStatus(enum.StrEnum):
    COUNTED = "counted"
    EXCLUDED = "excluded"


CHANNEL_VALUES = ", ".join(f"'{c.value}'" for c in Channel)


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (
        CheckConstraint(f"channel IN ({CHANNEL_VALUES})", name="channel"),
        CheckConstraint("status IN ('counted', 'excluded')", name="status"),
        CheckConstraint(
            "(status = 'counted' AND exclusion_reason IS NULL)"
            " OR (status = 'excluded' AND exclusion_reason IS NOT NULL)",
            name="exclusion_reason",
        ),
        CheckConstraint(
            "mode IS NULL OR mode IN ('self_web', 'paper', 'phone', 'face_to_face')", name="mode"
        ),
        Index("ix_responses_round_unit_area", "round_id", "unit_id", "service_area_id"),
        Index("ix_responses_round_received", "round_id", "received_at"),
        # The newest response of a round, in one index probe: the maintained statistics'
        # freshness check on every result page.
        Index("ix_responses_round_id", "round_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    # None for a sampled round's answer (an invitation's, not a desk's).
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_areas.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(8), default=Channel.QR)
    # Chosen by the client (or the form the server rendered) so that a retried submission is
    # recognised and stored once.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=ResponseStatus.COUNTED)
    exclusion_reason: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(8), default="vi")
    # A digest of the answers as sent (``responses.answers_digest``): identical answer vectors
    # repeated at one desk are found by grouping on it, without reading every answer row.
    answers_digest: Mapped[str | None] = mapped_column(String(16))
    # How a sampled round's answer came (``samples.AnswerMode``): the citizen on the web, a
    # paper form, a phone or a face-to-face interview entered by staff. None at a desk.
    mode: Mapped[str | None] = mapped_column(String(16))

    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )


class DossierCodeUse(Base):
    """A dossier code that has answered in a round, as HMAC-SHA256 under a server key: enough to
    refuse a second answer, useless for finding the citizen. Not linked to the response."""

    __tablename__ = "dossier_code_uses"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class FormUse(Base):
    """A served questionnaire form that has been sent: the one-time nonce signed into its start
    (``public.signing.sign_started``). The primary key makes a form count once across app
    servers; a second sending with another idempotency key is stored excluded. Not linked to the
    response, like a dossier code's use."""

    __tablename__ = "form_uses"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListedDossierCode(Base):
    """A dossier code handled in the round's period, imported from the one-stop software's list
    (``services.dossier_codes``), as HMAC-SHA256 under the dossier-code key like its use: when a
    round has a list, a desk asking for dossier codes accepts only the codes listed for its unit
    (and for the desk itself, when the list names desks)."""

    __tablename__ = "listed_dossier_codes"
    __table_args__ = (Index("ix_listed_dossier_codes_round_unit", "round_id", "unit_id"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    desk_id: Mapped[int | None] = mapped_column(ForeignKey("desks.id"))


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "item_id", "value"),
        CheckConstraint(
            "(CASE WHEN value IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN text IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN not_applicable THEN 1 ELSE 0 END) = 1",
            name="one_kind",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Looked up through the unique constraint above, which begins with this column.
    response_id: Mapped[int] = mapped_column(BigId, ForeignKey("responses.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    value: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)

    response: Mapped[Response] = relationship(back_populates="answers")
