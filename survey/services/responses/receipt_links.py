"""Receipt links: the QR the one-stop software prints on a receipt, carrying the dossier code.

The link is the desk's answer URL with the code and an HMAC-SHA256 signature in its query,
``/r/<desk token>?ma=<code>[&exp=<unix seconds>]&sig=<64 hex>``, signed over the canonical string
``hailong-receipt-v1\\n<desk token>\\n<code>\\n<exp or empty>`` under the province's RECEIPT_KEY
(docs/receipt-links.md gives the scheme with a worked example, for vendors in any language). A
valid link fills in the dossier code and locks it: the server takes the code from the signed
link, never from the form. Anything else (no signature, a wrong or malformed one, an expired
link, a code that is not a dossier code) is simply not a receipt link: the citizen answers as
from the desk's poster. The code is never logged; it is stored only as a keyed hash, like a
typed code, and stays subject to the one-answer-per-code rule.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import select

from survey.errors import DomainError, NotFoundError
from survey.extensions import db
from survey.models import Desk, Role, Unit, User
from survey.services.access import ForbiddenError, ensure_unit_visible
from survey.services.organisation.directory import live_desk
from survey.services.responses.abuse import normalise_dossier_code, server_key

VERSION = "hailong-receipt-v1"
KEY_NAME = "RECEIPT_KEY"
_SIG = re.compile(r"^[0-9a-f]{64}$")
_EXP = re.compile(r"^[0-9]{1,12}$")
# Longer than any code, signature or time the scheme makes: refused before any work.
_MAX_PARAM = 80


class ReceiptState(StrEnum):
    NONE = "none"  # no receipt parameters: an ordinary visit
    VALID = "valid"
    INVALID = "invalid"  # altered, malformed or signed with another key
    EXPIRED = "expired"
    USED = "used"  # valid, but this dossier has already answered in the open round


@dataclass(frozen=True)
class ReceiptCheck:
    state: ReceiptState
    code: str | None = None  # the normalised code, only when VALID
    params: tuple[tuple[str, str], ...] = ()  # the query to carry on (choose area, submit)


def unix_seconds(now: datetime) -> int:
    """Seconds since 1970 of a naive UTC time (the database's convention) or an aware one."""
    return calendar.timegm(now.utctimetuple())


def canonical(desk_token: str, code: str, exp: int | None) -> bytes:
    return f"{VERSION}\n{desk_token}\n{code}\n{'' if exp is None else exp}".encode("ascii")


def receipt_signature(key: bytes, desk_token: str, code: str, exp: int | None) -> str:
    return hmac.new(key, canonical(desk_token, code, exp), hashlib.sha256).hexdigest()


def receipt_key() -> bytes:
    """RECEIPT_KEY from the environment, or one derived from SECRET_KEY."""
    return server_key(KEY_NAME)


def receipt_query(key: bytes, desk_token: str, raw_code: str, exp: int | None = None) -> str:
    """The query string of a receipt link for ``raw_code``; ValueError when it is no dossier
    code (the message never repeats the code)."""
    code = normalise_dossier_code(raw_code) if raw_code.isascii() else None
    if code is None:
        raise ValueError("not a dossier code: 4 to 40 characters, A-Z, 0-9 and . / -")
    params = [("ma", code)]
    if exp is not None:
        params.append(("exp", str(exp)))
    params.append(("sig", receipt_signature(key, desk_token, code, exp)))
    return urlencode(params)


def receipt_url(
    base_url: str, key: bytes, desk_token: str, raw_code: str, exp: int | None = None
) -> str:
    return f"{base_url.rstrip('/')}/r/{desk_token}?{receipt_query(key, desk_token, raw_code, exp)}"


def check_receipt(
    key: bytes, desk_token: str, args: Mapping[str, str], *, now: datetime
) -> ReceiptCheck:
    """What the query of a visit to a desk says about its receipt code."""
    raw_code, raw_exp, sig = (args.get(n) for n in ("ma", "exp", "sig"))
    if raw_code is None and sig is None and raw_exp is None:
        return ReceiptCheck(ReceiptState.NONE)
    values = [v for v in (raw_code, raw_exp, sig) if v is not None]
    if (
        raw_code is None
        or sig is None
        or any(len(v) > _MAX_PARAM or not v.isascii() for v in values)
        or not _SIG.match(sig)
        or (raw_exp is not None and not _EXP.match(raw_exp))
    ):
        return ReceiptCheck(ReceiptState.INVALID)
    code = normalise_dossier_code(raw_code)
    exp = int(raw_exp) if raw_exp is not None else None
    # The signature is over the code as printed: a code that needed normalising was not minted
    # here, and comparing the exact string keeps the scheme simple for vendors.
    if code is None or code != raw_code:
        return ReceiptCheck(ReceiptState.INVALID)
    expected = receipt_signature(key, desk_token, code, exp)
    if not hmac.compare_digest(expected, sig):
        return ReceiptCheck(ReceiptState.INVALID)
    if exp is not None and unix_seconds(now) > exp:
        return ReceiptCheck(ReceiptState.EXPIRED)
    params = (("ma", code),) + ((("exp", str(exp)),) if exp is not None else ()) + (("sig", sig),)
    return ReceiptCheck(ReceiptState.VALID, code=code, params=params)


class ReceiptLinkError(ValueError):
    """Why no link can be made (the message never repeats the code)."""


def mint_receipt_link(desk: Desk, raw_code: str, exp: int | None = None) -> str:
    """The receipt link for one dossier of ``desk``, under this deployment's RECEIPT_KEY and
    PUBLIC_BASE_URL. Only a desk that asks for the dossier code reads one from a link."""
    if not desk.requires_dossier_code:
        raise ReceiptLinkError(
            "this desk does not ask for a dossier code: turn that on for the desk first"
        )
    base = str(current_app.config["PUBLIC_BASE_URL"])
    try:
        return receipt_url(base, receipt_key(), desk.token, raw_code, exp)
    except ValueError as exc:
        raise ReceiptLinkError(str(exc)) from exc


MAX_BATCH = 500


def ensure_may_mint(user: User) -> None:
    """Administrators and unit officers make receipt links; an analyst's token is refused
    before its request is even read."""
    if user.role == Role.ANALYST:
        raise ForbiddenError("An analyst's token may not make receipt links.")


def mint_receipt_links(
    user: User, desk_token: str, codes: list[str], expires: int | None
) -> list[tuple[str, str]]:
    """(code as signed, link) for each code, for a desk ``user`` may manage: an administrator
    any desk, a unit officer the desks of their unit and its sub-units, an analyst none. All or
    nothing: one code that is not a dossier code refuses the batch, naming its position."""
    ensure_may_mint(user)
    desk = db.session.scalar(select(Desk).join(Unit).where(*live_desk(desk_token)))
    if desk is None:
        raise NotFoundError("No active desk has this token.")
    ensure_unit_visible(user, desk.unit_id)
    links = []
    for position, raw in enumerate(codes):
        try:
            url = mint_receipt_link(desk, raw, expires)
        except ReceiptLinkError as exc:
            raise DomainError(f"codes[{position}]: {exc}") from exc
        links.append((url.partition("?ma=")[2].partition("&")[0], url))
    return links
