"""Scores a questionnaire version defines as data: sums of the points of some of its items.

The one-stop form of Decree 61/2018 and Circular 01/2018 scores each dossier on nine indicators
of 2, 1 or 0 points; the dossier score is their sum, at most 18. A version lists such sums in
``TemplateVersion.scores`` (``[{"code", "name", "name_en", "items": [item codes]}]``), so a
province that words or weights its form differently edits data, not code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from survey.models import Scale, TemplateVersion
from survey.models.templates import SCALE_POINTS


@dataclass(frozen=True)
class ScoreDefinition:
    code: str
    name: str
    name_en: str
    items: tuple[str, ...]  # item codes, in the version's order
    maximum: int  # the most points the items can give together


def score_definitions(version: TemplateVersion) -> list[ScoreDefinition]:
    """The version's scores, with the maximum each can reach on its items' scales."""
    scales = {item.code: item.scale for item in version.items}
    definitions = []
    for raw in version.scores or []:
        codes = tuple(str(code) for code in raw["items"])
        maximum = sum(
            max((v for v, _vi, _en in SCALE_POINTS.get(Scale(scales[c]), ())), default=0)
            for c in codes
            if c in scales and scales[c] in set(Scale) - {Scale.CHOICE, Scale.TEXT}
        )
        definitions.append(
            ScoreDefinition(
                code=str(raw["code"]),
                name=str(raw["name"]),
                name_en=str(raw.get("name_en", "")),
                items=codes,
                maximum=maximum,
            )
        )
    return definitions


def score_answers(definition: ScoreDefinition, points: Mapping[str, int | None]) -> int | None:
    """The sum of the points answered to the definition's items (item code -> value, None or
    absent for blank or not applicable). A score needs every one of its items: with one
    missing, the official sum would be understated, so there is none (None)."""
    values = [points.get(code) for code in definition.items]
    if any(value is None for value in values):
        return None
    return sum(value for value in values if value is not None)
