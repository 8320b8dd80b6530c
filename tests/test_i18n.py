"""Every interface string has an English translation, and the compiled catalog is current."""

from __future__ import annotations

import io

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from survey import ROOT

TRANSLATIONS = ROOT / "survey" / "translations"


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = set()
    for folder in ("survey", "forms", "templates"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            str(ROOT / folder), method_map, keywords=keywords
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_interface_string_has_an_english_translation() -> None:
    with open(TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted(_extracted() - translated)
    assert missing == [], f"add these to the English catalog: {missing}"


def test_compiled_catalog_matches_the_source() -> None:
    with open(TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po", "rb") as f:
        source = {m.id: m.string for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = {m.id: m.string for m in read_mo(io.BytesIO(f.read())) if m.id}
    assert compiled == source, "run: pybabel compile -d survey/translations"
