"""Views for citizens. Thin: validate, call the services, render or redirect."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from forms.answer import (
    AnswerFormBase,
    allowed_field_names,
    answer_form,
    build_answer_form,
    parse_answers,
    raw_answer,
    read_submission,
)
from survey.extensions import csrf, db
from survey.i18n import select_locale
from survey.models import Channel, Desk, Round, ServiceArea, utcnow
from survey.public import bp
from survey.public.signing import (
    answered_recently,
    remember_answer,
    seconds_since_started,
    sign_started,
)
from survey.services.organisation.directory import AreaT, desk_by_token, service_areas_of_desk
from survey.services.questionnaires.frozen import spec_of_version
from survey.services.ratelimits import counter
from survey.services.responses.abuse import (
    client_network,
    keyed_hash,
    suspicion,
    within_rate_limits,
)
from survey.services.responses.recording import (
    DossierCodeUsedError,
    RoundNotOpenError,
    record_response,
    submit_target,
)
from survey.services.rounds.lifecycle import open_round_for_unit

FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def _locale() -> str:
    # The code Flask-Babel's get_locale would be built from, without building its Locale (a
    # submission stores the code and renders nothing).
    return select_locale()


def _desk(token: str) -> Desk:
    # The route's token converter has already refused what no desk token looks like.
    return desk_by_token(token)


def _chosen_area(areas: list[AreaT], code: str | None) -> AreaT | None:
    if len(areas) == 1:
        return areas[0]
    return next((a for a in areas if a.code == code), None)


def _form_class(desk: Desk, round_: Round) -> type[AnswerFormBase]:
    return build_answer_form(
        round_.template_version, _locale(), dossier_code=desk.requires_dossier_code
    )


def _secret(name: str) -> bytes:
    configured = current_app.config.get(name)
    if configured:
        return str(configured).encode()
    # Derived, so that it differs from the session-signing key itself.
    return hmac.new(
        str(current_app.config["SECRET_KEY"]).encode(), name.encode(), hashlib.sha256
    ).digest()


@bp.app_template_global()
def condition_answer(item: Any, english: bool) -> str:
    """The labels of the answers that make a conditional item apply, for its hint."""
    points = {
        value: (en if english and en else vi) for value, vi, en in item.condition_item.points()
    }
    return " / ".join(points.get(v, str(v)) for v in item.condition_values or [])


@bp.get("/")
def index() -> str:
    return render_template("public/index.html")


@bp.get("/r/<token:token>")
def desk(token: str) -> Any:
    desk = _desk(token)
    round_ = open_round_for_unit(desk.unit_id, now=utcnow())
    if round_ is None:
        return render_template("public/closed.html", desk=desk)
    areas = service_areas_of_desk(desk)
    if not areas:
        return render_template("public/closed.html", desk=desk)
    area = _chosen_area(areas, request.args.get("area"))
    if area is None:
        return render_template("public/choose_area.html", desk=desk, areas=areas)
    form = _form_class(desk, round_)(
        formdata=None,
        idempotency_key=secrets.token_urlsafe(24),
        area=area.code,
        started=sign_started(),
    )
    return _render_form(desk, round_, area, form)


def _render_form(
    desk: Desk,
    round_: Round,
    area: ServiceArea,
    form: AnswerFormBase,
    status: int = 200,
    notice: str | None = None,
) -> tuple[str, int]:
    return (
        render_template(
            "public/form.html",
            desk=desk,
            round=round_,
            version=round_.template_version,
            area=area,
            form=form,
            notice=notice,
            multiple_areas=len(service_areas_of_desk(desk)) > 1,
        ),
        status,
    )


@bp.post("/r/<token:token>")
@csrf.exempt  # the form checks its own token, so that a stale token re-renders the answers
def submit(token: str) -> Any:
    # The hot path of the whole product (a queue of phones at a desk): plain data read in two
    # statements, the response written in two more. ORM objects are loaded only to re-render
    # the page when the submission is refused.
    if request.mimetype not in FORM_TYPES:
        # Flask-WTF would read a JSON body as the form's data (found by the form fuzzer).
        _desk(token)  # an unknown desk link is still a 404 first
        abort(415)
    if not _body_is_utf8():
        _desk(token)
        abort(400, description="not UTF-8")
    submitted = request.form
    now = utcnow()
    target = submit_target(token, submitted.get("idempotency_key", ""), now=now)
    if target.stored_response_id is not None:
        # A retry of a submission already stored: answer as the first time did.
        return redirect(url_for("public.thanks", token=token), code=303)
    rules = target.round
    if rules is None:
        return render_template("public/closed.html", desk=_desk(token)), 409
    spec = spec_of_version(rules.template_version_id, rules.version_frozen_at)
    dossier_code = target.requires_dossier_code
    if set(submitted.keys()) - allowed_field_names(spec, dossier_code=dossier_code):
        abort(400, description="unknown fields")
    area = _chosen_area(target.areas, submitted.get("area"))
    if area is None:
        abort(400, description="unknown service area")
    sent = read_submission(submitted, asks_dossier_code=dossier_code)
    answers, problems = parse_answers(spec.items, raw_answer(submitted))

    def refuse(status: int, notice: str, started: str | None = None) -> tuple[str, int]:
        # The whole questionnaire, filled with what was sent and marked where it is wrong.
        page = answer_form(spec, _locale(), dossier_code)()
        page.validate()
        for name, messages in sent.problems.items():  # with what the view found, such as a
            page[name].errors = list(messages)  # used dossier code
        if started is None:
            # The start time the form was served with, unless it no longer verifies (signed
            # under a secret since replaced): then a new one, so that one resend is enough.
            kept = seconds_since_started(sent.started) is not None
            started = sent.started if kept else sign_started()
        page.started.data = started
        return _render_form(
            _desk(token),
            db.get_or_404(Round, rules.id),
            db.get_or_404(ServiceArea, area.id),
            page,
            status=status,
            notice=notice,
        )

    if sent.problems or problems:
        return refuse(422, "expired" if sent.csrf_failed else "invalid")
    clock = time.time()
    elapsed = seconds_since_started(sent.started, clock)
    if elapsed is None:
        # Not a form we served (or served under another key): ask to send it again.
        return refuse(422, "expired", started=sign_started(clock))
    network = keyed_hash(client_network(request.remote_addr), _secret("NETWORK_KEY"))
    if not within_rate_limits(
        counter(),
        round_=rules,
        desk_id=target.desk_id,
        network_key=network,
        namespace=current_app.config.get("RATELIMIT_KEY_PREFIX", ""),
    ):
        return refuse(429, "busy")
    slot = f"r{rules.id}d{target.desk_id}"
    reason = suspicion(
        honeypot=sent.website,
        elapsed_seconds=elapsed,
        round_=rules,
        repeat_device=answered_recently(request, slot, rules.device_period_hours, clock),
    )
    code_hash = (
        keyed_hash(sent.dossier_code, _secret("DOSSIER_CODE_KEY")) if sent.dossier_code else None
    )
    try:
        record_response(
            round_=rules,
            desk_id=target.desk_id,
            unit_id=target.unit_id,
            service_area_id=area.id,
            answers=answers,
            idempotency_key=sent.idempotency_key,
            now=now,
            channel=Channel.QR,
            locale=_locale(),
            exclusion_reason=reason.reason if reason else None,
            dossier_code_hash=code_hash,
        )
    except RoundNotOpenError:
        return render_template("public/closed.html", desk=_desk(token)), 409
    except DossierCodeUsedError:
        sent.problems["dossier_code"] = [_dossier_code_used_message()]
        return refuse(422, "invalid")
    answer = redirect(url_for("public.thanks", token=token), code=303)
    remember_answer(request, answer, slot, clock)
    return answer


def _dossier_code_used_message() -> str:
    return _("Mã hồ sơ này đã được dùng để đánh giá trong đợt khảo sát này.")


def _body_is_utf8() -> bool:
    """Werkzeug leaves undecodable escapes in place (or replaces bytes with U+FFFD in multipart
    bodies); a citizen's answers must be real text, so refuse such bodies outright."""
    raw = request.get_data(cache=True)  # the form is then parsed from this cached copy
    if request.mimetype == "application/x-www-form-urlencoded":
        # Separators are ASCII, so the whole body decodes exactly when every name and value
        # does: one pass instead of parsing the form a second time.
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return not any("\ufffd" in v for values in request.form.listvalues() for v in values)


@bp.get("/r/<token:token>/thanks")
def thanks(token: str) -> str:
    return render_template("public/thanks.html", desk=_desk(token))
