"""Receipt links: a desk's answer link that carries a dossier code, signed so it cannot be
altered (issue 22, point 2; the scheme is documented in docs/receipt-links.md).

The one-stop software prints on each receipt a QR code of

    {PUBLIC_BASE_URL}/r/{desk token}?ma={dossier code}&ky={signature}

where the signature is HMAC-SHA256, under the province's ``RECEIPT_KEY``, of the text
``hl1:{desk token}:{dossier code}`` (the code upper-cased, without spaces), written in
unpadded base64url. Opening the link shows the desk's form with the code filled in and locked;
the form sends the code and the signature back, and the server takes the code only when the
signature still matches it, so neither the link nor the form can be edited into another code.
A signed code is a dossier code like any other: kept only as a keyed hash, and answering once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from survey.services.responses.abuse import normalise_dossier_code, server_key

VERSION = "hl1"
CODE_PARAMETER = "ma"
SIGNATURE_PARAMETER = "ky"
SIGNATURE_LENGTH = 43  # unpadded base64url of 32 bytes


def receipt_signature(desk_token: str, code: str) -> str:
    """The signature of ``code`` (already normalised) for the desk ``desk_token``."""
    message = f"{VERSION}:{desk_token}:{code}".encode()
    digest = hmac.new(server_key("RECEIPT_KEY"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def receipt_link(base_url: str, desk_token: str, raw_code: str) -> str:
    """The link to print on a receipt; ValueError if ``raw_code`` cannot be a dossier code."""
    code = normalise_dossier_code(raw_code)
    if code is None:
        raise ValueError(
            "not a dossier code: 4 to 40 letters, digits and . / - (spaces are ignored)"
        )
    query = urlencode(
        {CODE_PARAMETER: code, SIGNATURE_PARAMETER: receipt_signature(desk_token, code)}
    )
    return f"{base_url.rstrip('/')}/r/{desk_token}?{query}"


def signed_code(desk_token: str, raw_code: object, signature: object) -> str | None:
    """The dossier code a receipt link (or the form it opened) carries, if its signature
    matches; None for anything else (missing, altered, malformed, another desk's)."""
    if not isinstance(raw_code, str) or not isinstance(signature, str):
        return None
    if len(signature) != SIGNATURE_LENGTH or len(raw_code) > 80:
        return None
    code = normalise_dossier_code(raw_code)
    if code is None:
        return None
    expected = receipt_signature(desk_token, code)
    return code if hmac.compare_digest(expected, signature) else None
