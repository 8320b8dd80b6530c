"""Views for citizens. Thin: validate, call the services, render or redirect."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import abort, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from forms.answer import AnswerFormBase, answer_form, build_answer_form
from survey.extensions import csrf, db
from survey.i18n import select_locale
from survey.models import Desk, Round, ServiceArea, utcnow
from survey.public import bp
from survey.services.organisation.directory import AreaT, desk_by_token, service_areas_of_desk
from survey.services.responses.abuse import dossier_code_hash, dossier_code_used
from survey.services.responses.receipt_links import (
    ReceiptCheck,
    ReceiptState,
    check_receipt,
    receipt_key,
)
from survey.services.responses.signing import DEVICE_COOKIE, remember_answer, sign_started
from survey.services.responses.submission import Refill, Verdict, Visit, accept_submission
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


def _receipt(desk: Desk) -> ReceiptCheck:
    """The signed dossier code of a receipt link, at desks that ask for a code."""
    if not desk.requires_dossier_code:
        return ReceiptCheck(ReceiptState.NONE)
    return check_receipt(receipt_key(), desk.token, request.args, now=utcnow())


@bp.get("/r/<token:token>")
def desk(token: str) -> Any:
    desk = _desk(token)
    round_ = open_round_for_unit(desk.unit_id, now=utcnow())
    if round_ is None:
        return render_template("public/closed.html", desk=desk)
    areas = service_areas_of_desk(desk)
    if not areas:
        return render_template("public/closed.html", desk=desk)
    receipt = _receipt(desk)
    area = _chosen_area(areas, request.args.get("area"))
    if area is None:
        return render_template(
            "public/choose_area.html", desk=desk, areas=areas, receipt=dict(receipt.params)
        )
    form = _form_class(desk, round_)(
        formdata=None,
        idempotency_key=secrets.token_urlsafe(24),
        area=area.code,
        started=sign_started(),
    )
    if receipt.code is not None and dossier_code_used(round_.id, dossier_code_hash(receipt.code)):
        # Said now rather than after the citizen has answered every question.
        receipt = ReceiptCheck(ReceiptState.USED)
    if receipt.code is not None:
        form["dossier_code"].data = receipt.code
    return _render_form(desk, round_, area, form, receipt=receipt)


def _render_form(
    desk: Desk,
    round_: Round,
    area: ServiceArea,
    form: AnswerFormBase,
    status: int = 200,
    notice: str | None = None,
    receipt: ReceiptCheck | None = None,
) -> tuple[str, int]:
    receipt = receipt or ReceiptCheck(ReceiptState.NONE)
    return (
        render_template(
            "public/form.html",
            desk=desk,
            round=round_,
            version=round_.template_version,
            area=area,
            form=form,
            notice=notice,
            receipt_state=receipt.state.value,
            receipt=dict(receipt.params),
            multiple_areas=len(service_areas_of_desk(desk)) > 1,
        ),
        status,
    )


@bp.post("/r/<token:token>")
@csrf.exempt  # the form checks its own token, so that a stale token re-renders the answers
def submit(token: str) -> Any:
    # The hot path of the whole product: read the request, one service call, answer. ORM objects
    # are loaded only to show the page again when the submission is refused.
    if request.mimetype not in FORM_TYPES:
        # Flask-WTF would read a JSON body as the form's data (found by the form fuzzer).
        _desk(token)  # an unknown desk link is still a 404 first
        abort(415)
    if not _body_is_utf8():
        _desk(token)
        abort(400, description="not UTF-8")
    form: MultiDict[str, str] = request.form
    receipt = _receipt(_desk(token)) if "sig" in request.args else ReceiptCheck(ReceiptState.NONE)
    if receipt.code is not None:
        # The code comes from the signed link, whatever the form says (it shows it read-only).
        form = form.copy()
        form["dossier_code"] = receipt.code
    visit = Visit(
        token=token,
        form=form,
        remote_addr=request.remote_addr,
        device_cookie=request.cookies.get(DEVICE_COOKIE),
        locale=_locale(),
    )
    outcome = accept_submission(visit, now=utcnow())
    if outcome.verdict == Verdict.CLOSED:
        return render_template("public/closed.html", desk=_desk(token)), outcome.status
    if outcome.verdict == Verdict.BAD_REQUEST:
        abort(outcome.status, description=outcome.description)
    if outcome.refill is not None:
        return _refused_page(token, outcome.refill, outcome.status, outcome.notice, receipt)
    if outcome.verdict == Verdict.REUSED:
        return redirect(url_for("public.thanks", token=token, sent="again"), code=303)
    answer = redirect(url_for("public.thanks", token=token), code=303)
    if outcome.device_slot is not None:
        remember_answer(request, answer, outcome.device_slot, outcome.device_clock)
    return answer


def _refused_page(
    token: str, refill: Refill, status: int, notice: str | None, receipt: ReceiptCheck
) -> tuple[str, int]:
    """The whole questionnaire, filled with what was sent and marked where it is wrong."""
    page = answer_form(refill.spec, _locale(), refill.asks_dossier_code)()
    page.validate()
    for name, messages in refill.problems.items():  # with what the service found, such as a
        page[name].errors = list(messages)  # used dossier code
    page.started.data = refill.started
    return _render_form(
        _desk(token),
        db.get_or_404(Round, refill.round_id),
        db.get_or_404(ServiceArea, refill.area_id),
        page,
        status=status,
        notice=notice,
        receipt=receipt,
    )


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
    # ?sent=again: the form had been sent before, so this sending was stored but not counted.
    again = request.args.get("sent") == "again"
    return render_template("public/thanks.html", desk=_desk(token), sent_again=again)
