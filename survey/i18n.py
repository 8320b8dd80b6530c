"""Language: Vietnamese first, English on request (``?lang=en``, remembered in a cookie)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, request
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

LANG_COOKIE = "lang"


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    asked = request.args.get("lang")
    if asked in languages:
        g.lang_changed = asked
        return str(asked)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in languages:
        return str(cookie)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def remember_locale(response: Response) -> Response:
    chosen = g.get("lang_changed")
    if chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True
        )
    return response


STATE_LABELS = {
    "draft": _l("Nháp"),
    "open": _l("Đang mở"),
    "closed": _l("Đã đóng"),
    "published": _l("Đã công bố"),
}


def current_locale() -> str:
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def state_label(state: str) -> str:
    return str(STATE_LABELS.get(state, state))


def lang_url(code: str) -> str:
    """The current page in another language, keeping its other query arguments."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + "?" + urlencode([*args, ("lang", code)])


def init_app(app: Flask) -> None:
    app.after_request(remember_locale)
    app.jinja_env.globals.update(
        current_locale=current_locale, state_label=state_label, lang_url=lang_url
    )
