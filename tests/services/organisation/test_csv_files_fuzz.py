"""The organisation import against the database, fuzzed (hypothesis): random rows in all three
files, checked against a stored organisation. A bad upload gives a report and changes nothing
(not a unit, desk, link or audit event); a good one is applied and audited. Never an exception.

The reading and checking functions alone are fuzzed in test_org_import.py; this is the whole
service, database included. EXAMPLES cases per run.
"""

from __future__ import annotations

from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from survey.extensions import db
from survey.models import AuditEvent, Role, User, utcnow
from survey.services.accounts.users import create_user
from survey.services.organisation.csv_files import (
    DESKS,
    UNIT_AREAS,
    UNITS,
    export_csv,
    import_organisation,
    load_state,
)
from tests.factories import make_area, make_desk, make_level, make_unit

EXAMPLES = 80
CODES = st.sampled_from(["STP", "PBM", "NEW1", "NEW2", "PBM-Q1", "NEW-Q1", "", "x" * 60, "Ä B"])
CELL = st.one_of(
    CODES,
    st.sampled_from(["1", "0", "yes", "có", "department", "commune", "nowhere", "HT", "DD", "ZZ"]),
    st.sampled_from(["HT;DD", "HT DD", "Quầy số 1", "<script>", "=cmd|' /C calc'!A0", "\x00"]),
    st.text(max_size=12),
)
HEADERS = {
    UNITS: "code,name,level_code,parent_code,active",
    UNIT_AREAS: "unit_code,area_code",
    DESKS: "unit_code,code,name,areas,active",
}


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',;"\n\r') else text


@st.composite
def uploads(draw: st.DrawFn) -> dict[str, tuple[str, bytes]]:
    files: dict[str, tuple[str, bytes]] = {}
    for kind in draw(st.sets(st.sampled_from([UNITS, UNIT_AREAS, DESKS]), min_size=1)):
        width = HEADERS[kind].count(",") + 1
        rows = draw(st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=6))
        text = "\n".join([HEADERS[kind], *(",".join(map(_csv_cell, r)) for r in rows)])
        data = text.encode()
        if draw(st.integers(0, 7)) == 0:  # now and then raw bytes instead of a CSV
            data = draw(st.binary(max_size=200))
        files[kind] = (f"{kind}.csv", data)
    return files


def _snapshot() -> tuple[object, ...]:
    """Everything an import may change, as the export and the audit trail see it."""
    db.session.expire_all()
    state = load_state()
    audit = db.session.query(AuditEvent).count()
    return (state, *(export_csv(kind) for kind in (UNITS, UNIT_AREAS, DESKS)), audit)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(files=uploads())
def test_random_uploads_give_a_report_and_change_nothing_or_apply_whole(
    app: Flask, files: dict[str, tuple[str, bytes]]
) -> None:
    with app.test_request_context():
        if load_state().units == {}:
            make_level("department")
            make_level("commune")
            civil, land = make_area("HT"), make_area("DD", "Đất đai", "Land")
            unit = make_unit("PBM", "UBND phường Bình Minh", [civil, land])
            make_desk(unit, "PBM-Q1")
            create_user(username="admin", password="ao-dai-xanh-26", role=Role.ADMIN, now=utcnow())
            db.session.commit()
        admin = db.session.query(User).filter_by(username="admin").one()
        before = _snapshot()
        outcome = import_organisation(files, now=utcnow(), actor=admin)
        event("applied" if outcome.ok else "refused")
        if not outcome.ok:
            assert all(str(p.reason) and p.file for p in outcome.problems)
            db.session.rollback()  # what the view does on a report
            assert _snapshot() == before
            return
        db.session.commit()
        after = _snapshot()
        assert after[-1] > before[-1]  # audited (at least the import itself)
        # Applied whole: importing the same files again changes nothing more.
        again = import_organisation(files, now=utcnow(), actor=admin)
        assert again.ok and not again.changes.any
        db.session.rollback()
