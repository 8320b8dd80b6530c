"""Signers and the session cookie's serializer, with their derived keys kept.

Each citizen's submission checks the session, the form's start time and the device cookie and
signs the device cookie again (Flask-WTF checks the CSRF token with a serializer of its own).
itsdangerous derives the HMAC key from the secret and the salt again for every one of them, and
Flask builds the session's serializer anew on every request; the values are the same each time,
so they are made once here. What is signed, and how, does not change: the same key derivation,
digest and format as itsdangerous and Flask use themselves.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import want_bytes

_DERIVED: dict[tuple[Any, ...], bytes] = {}


class _KeptKeys:
    """Mixin for an itsdangerous signer: each key is derived once per process. (The serializers
    make a new signer for every value they sign or check, so the keys are kept here.)"""

    secret_keys: list[bytes]
    salt: bytes
    key_derivation: str
    digest_method: Any

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        slot = (secret, self.salt, self.key_derivation, self.digest_method)
        derived = _DERIVED.get(slot)
        if derived is None:
            if len(_DERIVED) > 256:  # a few secrets and salts in a process, never thousands
                _DERIVED.clear()
            derived = _DERIVED[slot] = super().derive_key(secret)  # type: ignore[misc]
        return derived


class KeptKeySigner(_KeptKeys, Signer):
    pass


class KeptKeyTimestampSigner(_KeptKeys, TimestampSigner):
    pass


def signing_keys(app: Flask) -> tuple[Any, ...]:
    """The keys signed values are checked under, oldest first: SECRET_KEY_FALLBACKS (the secrets
    before a rotation) and SECRET_KEY, which signs everything new (itsdangerous's order)."""
    return (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)


def accept_earlier_secrets_for_csrf(app: Flask) -> None:
    """Flask-WTF signs and checks CSRF tokens under WTF_CSRF_SECRET_KEY (else SECRET_KEY); given
    the list of keys, itsdangerous signs with the last and checks with each. Then a form served
    before a rotation of SECRET_KEY is still accepted, as Flask accepts its session."""
    if app.config.get("SECRET_KEY_FALLBACKS") and not app.config.get("WTF_CSRF_SECRET_KEY"):
        app.config["WTF_CSRF_SECRET_KEY"] = list(signing_keys(app))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, its serializer made once per set of secret keys."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = signing_keys(app)
        kept: dict[tuple[Any, ...], URLSafeTimedSerializer] = app.extensions.setdefault(
            "hailong.session_serializers", {}
        )
        serializer = kept.get(keys)
        if serializer is None:
            serializer = kept[keys] = URLSafeTimedSerializer(
                list(keys),  # itsdangerous wants the current key last
                salt=self.salt,
                serializer=self.serializer,
                signer=KeptKeyTimestampSigner,
                signer_kwargs={
                    "key_derivation": self.key_derivation,
                    "digest_method": self.digest_method,
                },
            )
        return serializer
