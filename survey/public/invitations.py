"""A sampled round's invitation, answered by the citizen on their own phone: the letter's QR
code opens ``/m/<code>`` with the one-time code, so nothing is typed and the answer is counted
in the dossier's stratum."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from limits import RateLimitItemPerHour

from forms.answer import AnswerFormBase, answer_form, parse_answers, raw_answer, read_submission
from survey.errors import ConflictError, NotFoundError
from survey.extensions import csrf, db
from survey.i18n import select_locale
from survey.models import AnswerMode, Invitation, InvitationState, Round, utcnow
from survey.public import bp
from survey.services.ratelimits import counter
from survey.services.responses.abuse import client_network, keyed_hash, server_key
from survey.services.responses.recording import RoundNotOpenError
from survey.services.responses.signing import sign_started
from survey.services.rounds.lifecycle import RoundRules
from survey.services.rounds.sample_answers import invitation_spec, record_invitation_answer
from survey.services.rounds.sampling import invitation_by_code

# Codes are 50 random bits, so guessing is hopeless; still, a network that keeps trying codes
# that do not exist is stopped for the hour rather than served.
MISSES_PER_HOUR = RateLimitItemPerHour(30)


def _misses() -> tuple[str, ...]:
    network = keyed_hash(client_network(request.remote_addr), server_key("NETWORK_KEY"))
    return (current_app.config.get("RATELIMIT_KEY_PREFIX", ""), "invitation-miss", network)


def _invitation(code: str) -> tuple[Invitation, Round]:
    misses = _misses()
    if not counter().test(MISSES_PER_HOUR, *misses):
        abort(429)
    invitation = invitation_by_code(code, server_key("DOSSIER_CODE_KEY"))
    if invitation is None:
        counter().hit(MISSES_PER_HOUR, *misses)
        raise NotFoundError(
            _("Không tìm thấy thư mời với mã này. Vui lòng kiểm tra lại mã in trên thư.")
        )
    return invitation, db.get_or_404(Round, invitation.round_id)


def _form_class(round_: Round) -> type[AnswerFormBase]:
    return answer_form(invitation_spec(round_), select_locale(), False)


def _page(
    code: str, invitation: Invitation, round_: Round, form: AnswerFormBase, status: int = 200
) -> tuple[str, int]:
    return (
        render_template(
            "public/invitation_form.html",
            code=code,
            invitation=invitation,
            round=round_,
            version=round_.template_version,
            unit=invitation.frame_row.unit,
            area=invitation.frame_row.service_area,
            form=form,
            notice="invalid" if status == 422 else None,
        ),
        status,
    )


def _state_page(invitation: Invitation, round_: Round, state: str, status: int = 200) -> Any:
    return (
        render_template(
            "public/invitation_state.html", invitation=invitation, round=round_, state=state
        ),
        status,
    )


@bp.get("/m/<string(maxlength=32):code>")
def invitation(code: str) -> Any:
    invitation, round_ = _invitation(code)
    if invitation.state == InvitationState.ANSWERED:
        return _state_page(invitation, round_, "answered")
    if not RoundRules.of(round_).is_open(utcnow()):
        return _state_page(invitation, round_, "closed")
    form = _form_class(round_)(
        formdata=None, idempotency_key=secrets.token_urlsafe(24), started=sign_started()
    )
    return _page(code, invitation, round_, form)


@bp.post("/m/<string(maxlength=32):code>")
@csrf.exempt  # the form checks its own token, so that a stale token re-renders the answers
def invitation_submit(code: str) -> Any:
    invitation, round_ = _invitation(code)
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        abort(415)
    sent = read_submission(request.form, asks_dossier_code=False)
    spec = invitation_spec(round_)
    answers, problems = parse_answers(spec.items, raw_answer(request.form))
    if sent.problems or problems:
        page = _form_class(round_)(formdata=request.form)
        page.validate()
        for name, messages in sent.problems.items():
            if name in page:
                page[name].errors = list(messages)
        if not page.idempotency_key.data or "idempotency_key" in sent.problems:
            page.idempotency_key.data = secrets.token_urlsafe(24)
        return _page(code, invitation, round_, page, status=422)
    try:
        record_invitation_answer(
            round_,
            invitation,
            answers,
            mode=AnswerMode.SELF_WEB,
            idempotency_key=sent.idempotency_key,
            now=utcnow(),
            locale=select_locale(),
        )
    except ConflictError:
        return _state_page(invitation, round_, "answered", 409)
    except RoundNotOpenError:
        db.session.rollback()
        return _state_page(invitation, round_, "closed", 409)
    return redirect(url_for("public.invitation_thanks", code=code), code=303)


@bp.get("/m/<string(maxlength=32):code>/thanks")
def invitation_thanks(code: str) -> Any:
    invitation, round_ = _invitation(code)
    return _state_page(invitation, round_, "thanks")
