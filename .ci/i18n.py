"""Keep the English catalog in step with the code.

    python .ci/i18n.py                      # list interface strings that lack a translation
    python .ci/i18n.py "Vietnamese=English" ...   # add or change translations, then compile

Vietnamese is the source language, so only English needs a catalog. Strings no longer used are
dropped; the compiled .mo is rewritten every time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "survey" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def extracted() -> list[str]:
    method_map = [("**.py", "python"), ("**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found: dict[str, None] = {}
    for folder in ("survey", "forms", "templates"):
        for _f, _l, message, _c, _x in extract_from_dir(
            str(ROOT / folder), method_map, keywords=keywords
        ):
            found[message if isinstance(message, str) else message[0]] = None
    return list(found)


def main(pairs: list[str]) -> int:
    with PO.open("rb") as f:
        old = {m.id: m.string for m in read_po(f) if m.id}
    for pair in pairs:
        vi, sep, en = pair.partition("=")
        if not sep or not vi or not en:
            print(f"expected VIETNAMESE=ENGLISH, got {pair!r}", file=sys.stderr)
            return 2
        old[vi] = en
    catalog = Catalog(locale="en", project="hailong")
    missing = []
    for message in extracted():
        catalog.add(message, old.get(message, ""))
        if not old.get(message):
            missing.append(message)
    with PO.open("wb") as f:
        write_po(f, catalog, no_location=True)
    with PO.with_suffix(".mo").open("wb") as f:
        write_mo(f, catalog)
    for message in missing:
        print(f"missing: {message}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
