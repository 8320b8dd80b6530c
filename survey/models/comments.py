"""Moderation of free-text comments: one review per comment answer; no row means pending."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.models.base import Base, utcnow
from survey.models.responses import Answer, BigId
from survey.models.users import User


class CommentState(enum.StrEnum):
    PENDING = "pending"  # never stored: the absence of a review
    APPROVED = "approved"
    HIDDEN = "hidden"


class CommentReview(Base):
    __tablename__ = "comment_reviews"
    __table_args__ = (CheckConstraint("state IN ('approved', 'hidden')", name="state"),)

    answer_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(10))
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    answer: Mapped[Answer] = relationship()
    reviewed_by: Mapped[User | None] = relationship()
