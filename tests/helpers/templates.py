"""Questionnaire versions for tests: SIPAS with the 2023 method's policy-making aspect."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from survey.extensions import db
from survey.models import TemplateVersion, utcnow
from survey.services.questionnaires.templates import import_template

SIPAS = Path(__file__).resolve().parents[2] / "survey" / "starter_templates" / "sipas.json"


def sipas_with_policy_aspect(code: str = "sipas", name: str | None = None) -> TemplateVersion:
    """SIPAS with a second aspect (policy making, as the 2023 method adds) of one element, P,
    whose criteria P1, P2... copy element A's. Under SIPAS's own code it is a new version of the
    shipped template; under another code, a template of its own."""
    data = json.loads(SIPAS.read_text(encoding="utf-8"))
    data["code"] = code
    if name is not None:
        data["name"] = name
    policy = copy.deepcopy(data["version"]["aspects"][0]["elements"][0])
    policy["code"], policy["name"] = "P", "Xây dựng và thực hiện chính sách"
    for n, item in enumerate(policy["items"]):
        item["code"] = f"P{n + 1}"
        item.pop("condition", None)
    data["version"]["aspects"].append(
        {"code": "CS", "name": "Chính sách", "name_en": "Policy", "elements": [policy]}
    )
    version = import_template(data, now=utcnow())
    db.session.commit()
    return version
