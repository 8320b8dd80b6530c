"""What console views read from the request besides their forms: the signed-in staff member,
and page numbers of paged lists (bounded, so no number reaches the database unchecked)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from survey.models import User
from survey.routing import page_number


def current_staff() -> User:
    """The signed-in staff member (the ``User`` behind Flask-Login's proxy), for services that
    record who acted."""
    user: User = current_user._get_current_object()
    return user


def page_arg(name: str = "page") -> int:
    """The page of a paged list asked for in the query (1 when absent or not a number)."""
    return request.args.get(name, 1, type=page_number)
