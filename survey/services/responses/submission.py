"""Accepting a citizen's submission at a desk link: the whole decision in one call.

The hot path of the product (a queue of phones at a desk): plain data read in one statement,
the response written in one more on PostgreSQL (``driver_sql``), the fixed fields read without a
WTForm (``read_submission``) and both rate limits counted in one Redis script. ORM objects are
loaded only by the view, to show a refused page again.

What it decides, in order: a retry of a stored submission is answered as the first attempt was;
a closed round or unknown fields stop it; wrong answers, a missing or forged start, the limits, a
dossier code not on the round's list or already used refuse it openly (the answers are shown
again); a form that was already sent once is stored excluded (``FORM_REUSED_REASON``) and the
citizen told so calmly; the honeypot, the minimum time and the device rule store it excluded
silently (``abuse.suspicion``); everything else counts.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from forms.answer import allowed_field_names, parse_answers, raw_answer, read_submission
from survey.models import Channel
from survey.services.questionnaires.frozen import QuestionnaireSpec, spec_of_version
from survey.services.ratelimits import counter
from survey.services.responses.abuse import (
    client_network,
    dossier_code_hash,
    keyed_hash,
    server_key,
    suspicion,
    within_rate_limits,
)
from survey.services.responses.recording import (
    DossierCodeUsedError,
    RoundNotOpenError,
    record_response,
    submit_target,
)
from survey.services.responses.signing import answered_recently, read_started, sign_started
from survey.services.rounds.dossier_codes import dossier_code_listed


class Verdict(enum.StrEnum):
    ACCEPTED = "accepted"  # stored (counted, or excluded without telling: a bot is not told)
    DUPLICATE = "duplicate"  # a retry of a submission already stored: answered as the first
    REUSED = "reused"  # a form sent once already: stored excluded, the citizen told calmly
    CLOSED = "closed"  # no round open at the desk
    BAD_REQUEST = "bad_request"  # not something our form sends (unknown fields, area)
    REFUSED = "refused"  # nothing stored; the questionnaire is shown again with ``notice``


@dataclass(frozen=True)
class Refill:
    """What the view needs to show the refused questionnaire again, filled with what was sent."""

    spec: QuestionnaireSpec
    asks_dossier_code: bool
    round_id: int
    area_id: int
    started: str  # the signed start the page is served with again
    problems: Mapping[str, list[str]]  # per fixed field (the answers' own are found again)


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    status: int = 303
    notice: str | None = None  # "invalid", "expired", "busy" (the form page's notices)
    description: str | None = None  # why a bad request is bad (for the log, not the citizen)
    refill: Refill | None = None
    device_slot: str | None = None  # what the device cookie should remember, when accepted
    device_clock: float = 0.0
    stored_response_id: int | None = None


@dataclass(frozen=True)
class Visit:
    """The request as the service needs it: read by the view, nothing of Flask's request."""

    token: str
    form: Any  # the posted form (a MultiDict)
    remote_addr: str | None
    device_cookie: str | None = None  # the signed list of desks this device answered
    locale: str = "vi"


# Stored as the reason of a response sent with a form that had already been sent (Vietnamese,
# like the reasons administrators write in the console).
FORM_REUSED_REASON = (
    "biểu mẫu đã được gửi một lần; lần gửi lại với mã gửi phiếu khác không được tính "
    "(dùng lại biểu mẫu)"
)


def dossier_code_not_listed_message() -> str:
    return _(
        "Mã hồ sơ này không có trong danh sách hồ sơ của quầy trong đợt khảo sát. "
        "Vui lòng kiểm tra lại mã in trên giấy tiếp nhận."
    )


def dossier_code_used_message() -> str:
    return _("Mã hồ sơ này đã được dùng để đánh giá trong đợt khảo sát này.")


def accept_submission(visit: Visit, *, now: datetime) -> Outcome:
    """Decide on one submission at a desk link and store it when it is to be stored. Raises
    NotFoundError for an unknown or revoked desk link."""
    submitted = visit.form
    target = submit_target(visit.token, submitted.get("idempotency_key", ""), now=now)
    if target.stored_response_id is not None:
        return Outcome(Verdict.DUPLICATE, stored_response_id=target.stored_response_id)
    rules = target.round
    if rules is None:
        return Outcome(Verdict.CLOSED, status=409)
    spec = spec_of_version(rules.template_version_id, rules.version_frozen_at)
    asks_code = target.requires_dossier_code
    if set(submitted.keys()) - allowed_field_names(spec, dossier_code=asks_code):
        return Outcome(Verdict.BAD_REQUEST, status=400, description="unknown fields")
    area = next(
        (a for a in target.areas if len(target.areas) == 1 or a.code == submitted.get("area")),
        None,
    )
    if area is None:
        return Outcome(Verdict.BAD_REQUEST, status=400, description="unknown service area")
    sent = read_submission(submitted, asks_dossier_code=asks_code)
    answers, problems = parse_answers(spec.items, raw_answer(submitted))

    def refuse(status: int, notice: str, started: str | None = None) -> Outcome:
        if started is None:
            # The start the form was served with, unless it no longer verifies (signed under a
            # secret since replaced): then a new one, so that one resend is enough.
            kept = sent.started if read_started(sent.started) is not None else None
            started = kept or sign_started()
        refill = Refill(spec, asks_code, rules.id, area.id, started, dict(sent.problems))
        return Outcome(Verdict.REFUSED, status=status, notice=notice, refill=refill)

    if sent.problems or problems:
        return refuse(422, "expired" if sent.csrf_failed else "invalid")
    clock = time.time()
    start = read_started(sent.started, clock)
    if start is None:
        # Not a form we served (or served under another key, or before forms carried a
        # nonce): ask to send it again.
        return refuse(422, "expired", started=sign_started(clock))
    network = keyed_hash(client_network(visit.remote_addr), server_key("NETWORK_KEY"))
    if not within_rate_limits(
        counter(),
        round_=rules,
        desk_id=target.desk_id,
        network_key=network,
        namespace=current_app.config.get("RATELIMIT_KEY_PREFIX", ""),
    ):
        return refuse(429, "busy")
    code_hash = dossier_code_hash(sent.dossier_code) if sent.dossier_code else None
    if code_hash is not None and not dossier_code_listed(
        rules.id, target.unit_id, target.desk_id, code_hash
    ):
        sent.problems["dossier_code"] = [dossier_code_not_listed_message()]
        return refuse(422, "invalid")
    slot = f"r{rules.id}d{target.desk_id}"
    reason = suspicion(
        honeypot=sent.website,
        elapsed_seconds=start.elapsed,
        round_=rules,
        repeat_device=answered_recently(
            visit.device_cookie, slot, rules.device_period_hours, clock
        ),
    )
    try:
        recorded = record_response(
            round_=rules,
            desk_id=target.desk_id,
            unit_id=target.unit_id,
            service_area_id=area.id,
            answers=answers,
            idempotency_key=sent.idempotency_key,
            now=now,
            channel=Channel.QR,
            locale=visit.locale,
            exclusion_reason=reason.reason if reason else None,
            dossier_code_hash=code_hash,
            form_nonce=start.nonce,
            form_reused_reason=FORM_REUSED_REASON,
        )
    except RoundNotOpenError:
        return Outcome(Verdict.CLOSED, status=409)
    except DossierCodeUsedError:
        sent.problems["dossier_code"] = [dossier_code_used_message()]
        return refuse(422, "invalid")
    if recorded.form_reused:
        return Outcome(Verdict.REUSED, stored_response_id=recorded.response_id)
    verdict = Verdict.ACCEPTED if recorded.created else Verdict.DUPLICATE
    return Outcome(
        verdict,
        device_slot=slot,
        device_clock=clock,
        stored_response_id=recorded.response_id,
    )
