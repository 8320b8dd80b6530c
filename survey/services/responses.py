"""Recording a citizen's response: once, whole, and only into an open round."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from survey.errors import DomainError
from survey.extensions import db
from survey.models import (
    Answer,
    Channel,
    Desk,
    DossierCodeUse,
    Response,
    ResponseStatus,
    Round,
    ServiceArea,
)
from survey.services.abuse import dossier_code_used
from survey.services.comments import mask_personal_data


@dataclass(frozen=True)
class AnswerValue:
    """One answer: a scale value, a chosen option, a text, or 'not applicable'."""

    item_id: int
    value: int | None = None
    text: str | None = None
    not_applicable: bool = False


@dataclass(frozen=True)
class Recorded:
    response_id: int
    created: bool  # False when the idempotency key had been seen: a retry, stored once


class RoundNotOpenError(DomainError):
    status = 409
    code = "round_not_open"


class DossierCodeUsedError(DomainError):
    status = 409
    code = "dossier_code_used"


def record_response(
    *,
    round_: Round,
    desk: Desk,
    service_area: ServiceArea,
    answers: list[AnswerValue],
    idempotency_key: str,
    now: datetime,
    channel: Channel = Channel.QR,
    locale: str = "vi",
    exclusion_reason: str | None = None,
    dossier_code_hash: str | None = None,
) -> Recorded:
    """Store a response and all its answers in one transaction, or find the one already stored
    under the same idempotency key. Commits, because the key's uniqueness is decided by the
    database at commit time and a retry must see the first attempt.

    ``exclusion_reason`` stores the response as excluded (it never counts); ``dossier_code_hash``
    claims a one-time dossier code in the same transaction."""
    # A retry of a stored submission is refused by the unique key below and answered with the
    # first attempt's id. Callers that want to answer retries without any work (the citizen's
    # view does, before validating) look the key up with response_id_for_key first; doing it
    # here again would cost every submission one more round trip to the database.
    if round_.state != "open" or not (round_.opens_at <= now < round_.closes_at):
        raise RoundNotOpenError("The survey round is not open.")
    if dossier_code_hash is not None and dossier_code_used(round_.id, dossier_code_hash):
        raise DossierCodeUsedError("This dossier code has already been used in this round.")
    response = Response(
        round_id=round_.id,
        desk_id=desk.id,
        unit_id=desk.unit_id,
        service_area_id=service_area.id,
        received_at=now,
        channel=channel.value,
        idempotency_key=idempotency_key,
        status=(ResponseStatus.EXCLUDED if exclusion_reason else ResponseStatus.COUNTED).value,
        exclusion_reason=exclusion_reason,
        locale=locale,
    )
    try:
        db.session.add(response)
        if dossier_code_hash is not None:
            db.session.add(
                DossierCodeUse(round_id=round_.id, code_hash=dossier_code_hash, used_at=now)
            )
        db.session.flush()
        response_id = response.id  # read now: after the commit it would be fetched again
        if answers:
            db.session.execute(
                # Nulls as values, so that scale answers and texts go in one batch.
                insert(Answer).execution_options(render_nulls=True),
                [
                    {
                        "response_id": response_id,
                        "item_id": a.item_id,
                        "value": a.value,
                        # Stored masked: the raw phone number or ID never reaches the database.
                        "text": None if a.text is None else mask_personal_data(a.text),
                        "not_applicable": a.not_applicable,
                    }
                    for a in answers
                ],
            )
        db.session.commit()
    except IntegrityError:
        # Two copies of the same submission raced; the other one won and holds every answer.
        db.session.rollback()
        winner = response_id_for_key(idempotency_key)
        if winner is None:
            if dossier_code_hash is not None and dossier_code_used(round_.id, dossier_code_hash):
                raise DossierCodeUsedError(
                    "This dossier code has already been used in this round."
                ) from None
            raise
        return Recorded(winner, created=False)
    return Recorded(response_id, created=True)


def response_id_for_key(idempotency_key: str) -> int | None:
    return db.session.scalar(select(Response.id).where(Response.idempotency_key == idempotency_key))
