"""What the console's forms share: a field error from a service shown beside its field, the
status of a page shown again, and a confirmed change (deactivate, reactivate, new token...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flask import flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as WerkzeugResponse

from survey.errors import DomainError
from survey.extensions import db


class FieldError(Protocol):
    field: str
    message: str


def form_status(form_posted: bool) -> int:
    """A form page shown again after a post is a 422; on a first visit, 200."""
    return 422 if form_posted else 200


def show_field_error(form: Any, exc: FieldError) -> None:
    field = form[exc.field]
    field.errors = [*field.errors, exc.message]


def confirmed_change(
    form: FlaskForm,
    change: Callable[[], object],
    *,
    done: str,
    to: str,
    errors: type[DomainError],
) -> WerkzeugResponse | None:
    """Run ``change`` once the confirmation form is posted and valid: commit, say ``done`` and
    send the visitor ``to`` the page of what changed. A refusal of type ``errors`` is rolled
    back and shown beside its field. None means: show the confirmation page (again)."""
    if not form.validate_on_submit():
        return None
    try:
        change()
    except errors as exc:
        db.session.rollback()
        show_field_error(form, exc)  # type: ignore[arg-type]  # errors carry a field
        return None
    db.session.commit()
    flash(done, "success")
    return redirect(to, code=303)
