"""Survey rounds (đợt khảo sát), the units in their scope, and the weighting frame."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow
from survey.models.org import ServiceArea, Unit
from survey.models.templates import TemplateVersion


class RoundState(enum.StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    PUBLISHED = "published"


# The legal transitions; the services refuse anything else and the check constraints below make
# the stored states consistent with the timestamps those transitions set.
TRANSITIONS: dict[RoundState, frozenset[RoundState]] = {
    RoundState.DRAFT: frozenset({RoundState.OPEN}),
    RoundState.OPEN: frozenset({RoundState.CLOSED}),
    RoundState.CLOSED: frozenset({RoundState.OPEN, RoundState.PUBLISHED}),
    RoundState.PUBLISHED: frozenset(),
}

STATE_VALUES = ", ".join(f"'{s.value}'" for s in RoundState)


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (
        CheckConstraint(f"state IN ({STATE_VALUES})", name="state"),
        CheckConstraint("closes_at > opens_at", name="period"),
        CheckConstraint("state = 'draft' OR opened_at IS NOT NULL", name="opened_at"),
        CheckConstraint(
            "state NOT IN ('closed', 'published') OR closed_at IS NOT NULL", name="closed_at"
        ),
        CheckConstraint("(state = 'published') = (published_at IS NOT NULL)", name="published_at"),
        CheckConstraint("min_answer_seconds >= 0", name="min_answer_seconds"),
        CheckConstraint("device_period_hours >= 0", name="device_period_hours"),
        CheckConstraint("desk_limit_per_hour >= 1", name="desk_limit_per_hour"),
        CheckConstraint("network_limit_per_hour >= 1", name="network_limit_per_hour"),
        CheckConstraint("NOT is_public OR state = 'published'", name="public_published"),
        CheckConstraint("target IS NULL OR (target >= 0 AND target <= 100)", name="target"),
        CheckConstraint("kind IN ('qr', 'sample')", name="kind"),
        CheckConstraint(
            "rule_min_n_eff > 0 AND rule_max_ci_width > 0 AND rule_max_relative_width > 0 "
            "AND rule_df_review > 0 AND rule_relative_width_above >= 0 "
            "AND rule_relative_width_above < rule_max_ci_width",
            name="publishing_rule",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=RoundState.DRAFT)
    # 'qr': whoever scans at the desks answers; 'sample': invited dossiers drawn at random from
    # a frame (survey.models.samples). The two are never pooled.
    kind: Mapped[str] = mapped_column(String(16), default="qr", server_default="qr")
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Anti-abuse settings (0 turns the first two off). A submission faster than
    # min_answer_seconds is treated as a bot; one device answers a desk once per period; the
    # limits bound submissions per desk and per client network, generous enough for a queue.
    min_answer_seconds: Mapped[int] = mapped_column(default=10, server_default="10")
    device_period_hours: Mapped[int] = mapped_column(default=12, server_default="12")
    desk_limit_per_hour: Mapped[int] = mapped_column(default=240, server_default="240")
    network_limit_per_hour: Mapped[int] = mapped_column(default=240, server_default="240")
    # Opt-in by the administrator: a published round's indices on a page anyone can read.
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The satisfaction target in percent for every verdict of the round (None: the province's
    # default, the TARGET_DEFAULT setting), overridden per unit level by ``level_targets``.
    target: Mapped[float | None]
    # The publishing rule (analysis.publishing.PublishingRule; NCHS defaults), per round.
    rule_min_n_eff: Mapped[float] = mapped_column(default=30.0, server_default="30")
    rule_max_ci_width: Mapped[float] = mapped_column(default=30.0, server_default="30")
    rule_relative_width_above: Mapped[float] = mapped_column(default=5.0, server_default="5")
    rule_max_relative_width: Mapped[float] = mapped_column(default=1.3, server_default="1.3")
    rule_df_review: Mapped[float] = mapped_column(default=8.0, server_default="8")
    # Raised by triggers (migration 0009) whenever a stored response is changed or deleted (an
    # exclusion, a restore, a hand edit): the maintained statistics then check every cell
    # again. ``answers_generation``, when a stored answer is: they are recomputed.
    stats_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    answers_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    template_version: Mapped[TemplateVersion] = relationship()
    scope: Mapped[list[RoundUnit]] = relationship(
        back_populates="round", cascade="all, delete-orphan"
    )


class RoundLevelTarget(Base):
    """A round's target for the units of one level (the seeds: 95% for departments, 70% for
    health and education units), instead of the round's own."""

    __tablename__ = "round_level_targets"
    __table_args__ = (CheckConstraint("target >= 0 AND target <= 100", name="target"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    level_code: Mapped[str] = mapped_column(ForeignKey("unit_levels.code"), primary_key=True)
    target: Mapped[float]


class RoundUnit(Base):
    """A unit in a round's scope, with its target and the name it had when the round opened, so
    that old rounds report under the names units had then."""

    __tablename__ = "round_units"
    __table_args__ = (CheckConstraint("target_responses >= 0", name="target"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    target_responses: Mapped[int] = mapped_column(default=0)
    unit_name: Mapped[str] = mapped_column(String(300))

    round: Mapped[Round] = relationship(back_populates="scope")
    unit: Mapped[Unit] = relationship()


class DossierCount(Base):
    """Dossiers handled per unit x service area in a round's period: the weighting frame."""

    __tablename__ = "dossier_counts"
    __table_args__ = (CheckConstraint("dossiers >= 0", name="dossiers"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    service_area_id: Mapped[int] = mapped_column(ForeignKey("service_areas.id"), primary_key=True)
    dossiers: Mapped[int]

    unit: Mapped[Unit] = relationship()
    service_area: Mapped[ServiceArea] = relationship()


class RoundStatistics(Base):
    """The round's sufficient statistics per desk within unit x area cell
    (``analysis.satisfaction.CellStats``), maintained as responses arrive: the responses up to
    ``through_id`` (and the later ones listed in the payload) are folded in. A cache of the
    answers, never the record: ``flask results reconcile`` recomputes it from the answers."""

    __tablename__ = "round_statistics"

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    template_version_id: Mapped[int] = mapped_column(ForeignKey("template_versions.id"))
    labels_key: Mapped[str] = mapped_column(String(64))  # the unit, area and desk codes used
    generation: Mapped[int]  # the round's stats_generation when they were checked
    answers_generation: Mapped[int]
    through_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoundSnapshot(Base):
    """What a round published, frozen: the sufficient statistics and the design frame the
    numbers come from, the numbers themselves, the method and the rule, and a hash of the
    counted response ids. Pages, exports and the API of a published round read it;
    ``flask results rederive`` recomputes it from the stored responses and reports any
    difference."""

    __tablename__ = "round_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    responses: Mapped[int]  # counted responses
    responses_hash: Mapped[str] = mapped_column(String(64))  # sha256 of their sorted ids
    numbers_hash: Mapped[str] = mapped_column(String(64))  # sha256 of ``numbers``
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # statistics, frame, method, rule
    numbers: Mapped[bytes] = mapped_column(LargeBinary)  # the index table, as CSV
