"""POST /api/v1/receipt-links: the one-stop software asks for signed receipt links."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from survey.extensions import db
from survey.models import Desk
from tests.admin.conftest import Staff
from tests.api.conftest import bearer
from tests.api.test_api import _answer_schema

URL = "/api/v1/receipt-links"
KEY = "province-receipt-key-for-tests-0123456789"


@pytest.fixture
def desks(app: Flask, staff: Staff) -> tuple[str, str]:
    app.config["RECEIPT_KEY"] = KEY
    with app.app_context():
        db.session.execute(update(Desk).values(requires_dossier_code=True))
        db.session.commit()
        own = db.session.get(Desk, staff.desk_id)
        other = db.session.get(Desk, staff.other_desk_id)
        assert own and other
        return own.token, other.token


def _post(client: FlaskClient, token: str, body: Any) -> Any:
    return client.post(URL, json=body, headers=bearer(token))


def test_an_administrator_mints_links_a_vendor_can_check_with_hmac_alone(
    client: FlaskClient, tokens: dict[str, str], desks: tuple[str, str]
) -> None:
    own, _ = desks
    answer = _post(
        client,
        tokens["admin"],
        {"desk_token": own, "codes": ["h01-2501-0001 ", "H01-2501-0002"], "qr": "png"},
    )
    assert answer.status_code == 200
    from jsonschema import Draft202012Validator

    document = client.get("/api/v1/openapi.json").get_json()
    schema = _answer_schema(document, "/receipt-links", "post")
    assert list(Draft202012Validator(schema).iter_errors(answer.get_json())) == []
    links = answer.get_json()["links"]
    assert [link["code"] for link in links] == ["H01-2501-0001", "H01-2501-0002"]
    for link in links:
        parts = urlsplit(link["url"])
        assert parts.path == f"/r/{own}"
        query = parse_qs(parts.query)
        message = f"hailong-receipt-v1\n{own}\n{link['code']}\n".encode()
        assert query["sig"] == [hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()]
        assert base64.b64decode(link["qr"]).startswith(b"\x89PNG")


def test_svg_and_expiry(
    client: FlaskClient, tokens: dict[str, str], desks: tuple[str, str]
) -> None:
    body = {"desk_token": desks[0], "codes": ["H01-2501-0001"], "qr": "svg", "expires": 1798761600}
    [link] = _post(client, tokens["admin"], body).get_json()["links"]
    assert "exp=1798761600" in link["url"] and "<svg" in link["qr"]


def test_who_may_mint(client: FlaskClient, tokens: dict[str, str], desks: tuple[str, str]) -> None:
    own, other = desks
    body = {"desk_token": own, "codes": ["H01-2501-0001"]}
    assert _post(client, tokens["officer"], body).status_code == 200
    assert _post(client, tokens["officer"], body | {"desk_token": other}).status_code == 403
    assert _post(client, tokens["analyst"], body).status_code == 403
    assert client.post(URL, json=body).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"codes": ["H01-2501-0001"]},
        {"desk_token": "x", "codes": []},
        {"desk_token": "x", "codes": "H01-2501-0001"},
        {"desk_token": "x", "codes": [1]},
        {"desk_token": "x", "codes": ["H01-2501-0001"] * 501},
        {"desk_token": "x", "codes": ["H01-2501-0001"], "expires": "tomorrow"},
        {"desk_token": "x", "codes": ["H01-2501-0001"], "expires": True},
        {"desk_token": "x", "codes": ["H01-2501-0001"], "qr": "gif"},
        {"desk_token": "x", "codes": ["H01-2501-0001"], "extra": 1},
    ],
)
def test_malformed_bodies_are_400_never_500(
    client: FlaskClient, tokens: dict[str, str], desks: tuple[str, str], body: Any
) -> None:
    assert _post(client, tokens["admin"], body).status_code == 400


def test_bad_codes_and_desks(
    client: FlaskClient, tokens: dict[str, str], desks: tuple[str, str], app: Flask
) -> None:
    own, _ = desks
    for code in ("12", "É" * 10, "A" * 41, "a b;c"):
        answer = _post(client, tokens["admin"], {"desk_token": own, "codes": ["H01-1", code]})
        assert answer.status_code == 400
        assert code not in answer.get_data(as_text=True)
    assert (
        _post(client, tokens["admin"], {"desk_token": "nope", "codes": ["H01-1"]}).status_code
        == 404
    )
    with app.app_context():
        db.session.execute(update(Desk).values(requires_dossier_code=False))
        db.session.commit()
    assert (
        _post(client, tokens["admin"], {"desk_token": own, "codes": ["H01-2501"]}).status_code
        == 400
    )


def test_the_operation_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    declared = document["paths"]["/receipt-links"]["post"]
    assert declared["operationId"] == "mintReceiptLinks"
    assert "requestBody" in declared
