"""The organisation CSV import and export: reading broken files, checking rows against what is
stored, what would change, and the database side (nothing stored on any bad row, re-importing
changes nothing, the export imports back to no change)."""

from __future__ import annotations

import unicodedata

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import AuditEvent, Desk, Role, ServiceArea, Unit, User, utcnow
from survey.services.accounts.users import create_user
from survey.services.organisation.csv_files import (
    DESKS,
    KINDS,
    MAX_FILE_BYTES,
    UNIT_AREAS,
    UNITS,
    DeskState,
    OrgState,
    UnitState,
    diff_plan,
    export_csv,
    import_organisation,
    load_state,
    plan_import,
    read_table,
)
from tests.factories import make_area, make_desk, make_level, make_unit

STATE = OrgState(
    levels=frozenset({"department", "commune"}),
    areas=frozenset({"HT", "DD", "XD"}),
    units={
        "STP": UnitState("STP", "Sở Tư pháp", "department", None, True),
        "PBM": UnitState("PBM", "UBND phường Bình Minh", "commune", None, True),
        "OLD": UnitState("OLD", "UBND xã cũ", "commune", None, False, successor_code="PBM"),
    },
    unit_areas={"STP": frozenset({"HT"}), "PBM": frozenset({"HT", "DD"})},
    desks={"PBM-Q1": DeskState("PBM-Q1", "PBM", "Quầy số 1", ("DD",), True)},
)

UNITS_HEADER = "code,name,level_code,parent_code,active\n"
AREAS_HEADER = "unit_code,area_code\n"
DESKS_HEADER = "unit_code,code,name,areas,active\n"


def report(files: dict[str, str | bytes], state: OrgState = STATE) -> list[tuple[object, ...]]:
    """(file, line, column, reason) for every problem, whether reading or checking found it."""
    tables, found = {}, []
    for kind, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        table, problems = read_table(kind, data)
        found.extend(problems)
        if table is not None:
            tables[kind] = table
    if not found:
        found = plan_import(tables, state).problems
    return [(p.file, p.line, p.column, str(p.reason)) for p in found]


def changes_of(files: dict[str, str], state: OrgState = STATE):  # type: ignore[no-untyped-def]
    tables = {}
    for kind, content in files.items():
        table, problems = read_table(kind, content.encode())
        assert problems == [] and table is not None
        tables[kind] = table
    plan = plan_import(tables, state)
    assert plan.problems == [], [str(p.reason) for p in plan.problems]
    return diff_plan(plan, state)


# --- reading files -----------------------------------------------------------------------------


def test_byte_order_mark_and_semicolons_are_read() -> None:
    data = "\ufeffcode;name;level_code\r\nSXD;Sở Xây dựng;department\r\n".encode()
    table, problems = read_table(UNITS, data)
    assert problems == []
    assert table is not None
    assert [(r.line, r.values["code"], r.values["name"]) for r in table.rows] == [
        (2, "SXD", "Sở Xây dựng")
    ]


def test_vietnamese_headers_are_accepted() -> None:
    table, problems = read_table(DESKS, "mã đơn vị,mã quầy,tên quầy\nPBM,PBM-Q2,Quầy 2\n".encode())
    assert problems == []
    assert table is not None and table.rows[0].values == {
        "unit_code": "PBM",
        "code": "PBM-Q2",
        "name": "Quầy 2",
    }


def test_latin1_file_names_the_first_bad_line() -> None:
    data = (UNITS_HEADER + "STP,Sở Tư pháp,department,,1\nXPL,Xã Phú Lộc,commune,,1\n").encode(
        "cp1258", errors="replace"
    )
    latin1 = (UNITS_HEADER + "ABC,Caf\u00e9 ph\u1ed1,commune,,1\n").encode("utf-8")
    latin1 = latin1.replace("é".encode(), "é".encode("latin-1"))
    for content in (data, latin1):
        [(kind, line, _column, reason)] = report({UNITS: content})
        assert kind == UNITS
        assert line == 2
        assert "UTF-8" in reason


def test_utf16_file_is_explained() -> None:
    [(_kind, _line, _column, reason)] = report({UNITS: UNITS_HEADER.encode("utf-16")})
    assert "UTF-16" in reason


def test_binary_file_is_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    [(_kind, line, _column, reason)] = report({DESKS: png})
    assert line is None
    assert "không phải tệp CSV" in reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Tệp trống."),
        (b"  \r\n\r\n", "Tệp trống."),
        (UNITS_HEADER.encode(), "Tệp không có dòng dữ liệu nào."),
        ((UNITS_HEADER + ",,,,\n\n").encode(), "Tệp không có dòng dữ liệu nào."),
    ],
)
def test_empty_files_are_reported(content: bytes, message: str) -> None:
    assert report({UNITS: content}) == [(UNITS, None, None, message)]


def test_ten_megabyte_file_is_refused_without_reading_it() -> None:
    big = (UNITS_HEADER + "X,Tên,department,,1\n" * 600_000).encode()
    assert len(big) > 10 * 1024 * 1024
    [(_kind, _line, _column, reason)] = report({UNITS: big})
    assert reason == f"Tệp quá lớn: tối đa {MAX_FILE_BYTES // (1024 * 1024)} MB."


def test_missing_columns_are_each_named() -> None:
    found = report({UNITS: "ma,ghi_chu\nSTP,Sở Tư pháp\n", DESKS: "code,name\nQ1,Quầy\n"})
    assert [(kind, line, column) for kind, line, column, _r in found] == [
        (UNITS, 1, "code"),
        (UNITS, 1, "name"),
        (UNITS, 1, "level_code"),
        (DESKS, 1, "unit_code"),
    ]
    assert found[0][3] == "Thiếu cột code trong dòng tiêu đề."


def test_a_column_twice_in_the_header() -> None:
    found = report({UNIT_AREAS: "unit_code,area_code,ma_linh_vuc\nSTP,HT,HT\n"})
    assert found == [(UNIT_AREAS, 1, "area_code", "Cột area_code xuất hiện hai lần.")]


def test_unquoted_comma_in_a_name_gives_a_hint() -> None:
    found = report({UNITS: UNITS_HEADER + "STP,Sở Tư pháp, Hộ tịch,department,,1,\n"})
    assert [(line, column) for _k, line, column, _r in found] == [(2, None)]
    assert "ngoặc kép" in found[0][3]


def test_broken_quotes() -> None:
    found = report({UNITS: UNITS_HEADER + 'STP,"Sở Tư pháp,department,,1\nA,"b"c,department,,1\n'})
    assert len(found) == 1
    assert "ngoặc kép" in found[0][3]


# --- checking rows -----------------------------------------------------------------------------


def test_duplicate_codes_are_reported_with_the_first_line() -> None:
    found = report(
        {
            UNITS: UNITS_HEADER
            + "SXD,Sở Xây dựng,department,,1\nSXD,Sở Xây dựng 2,department,,1\n",
            UNIT_AREAS: AREAS_HEADER + "STP,HT\nSTP,HT\n",
            DESKS: DESKS_HEADER + "STP,STP-Q1,Quầy 1,,1\nSTP,STP-Q1,Quầy 1 bis,,1\n",
        }
    )
    assert found == [
        (UNITS, 3, "code", "Mã đơn vị SXD trùng với dòng 2."),
        (UNIT_AREAS, 3, "area_code", "Cặp STP × HT trùng với dòng 2."),
        (DESKS, 3, "code", "Mã quầy STP-Q1 trùng với dòng 2."),
    ]


def test_unknown_references_are_reported() -> None:
    found = report(
        {
            UNITS: UNITS_HEADER + "XA,Xã A,commune,NOPE,1\nXB,Xã B,province,,1\n",
            UNIT_AREAS: AREAS_HEADER + "NOPE,HT\nSTP,ZZ\n",
            DESKS: DESKS_HEADER + "NOPE,N-Q1,Quầy,,1\nSTP,STP-Q9,Quầy,ZZ HT,1\n",
        }
    )
    assert found == [
        (UNITS, 2, "parent_code", "Không có đơn vị cấp trên mã NOPE."),
        (UNITS, 3, "level_code", "Không có cấp đơn vị mã province (các cấp: commune, department)."),
        (UNIT_AREAS, 2, "unit_code", "Không có đơn vị mã NOPE."),
        (UNIT_AREAS, 3, "area_code", "Không có lĩnh vực mã ZZ."),
        (DESKS, 2, "unit_code", "Không có đơn vị mã NOPE."),
        (DESKS, 3, "areas", "Không có lĩnh vực mã ZZ."),
    ]


def test_a_cycle_names_every_row_in_it() -> None:
    found = report({UNITS: UNITS_HEADER + "A,Đơn vị A,commune,B,1\nB,Đơn vị B,commune,A,1\n"})
    assert found == [
        (UNITS, 2, "parent_code", "Cây đơn vị có vòng lặp: A → B → A."),
        (UNITS, 3, "parent_code", "Cây đơn vị có vòng lặp: B → A → B."),
    ]


def test_a_cycle_through_a_stored_unit() -> None:
    # STP (stored, on top) is put under a new unit that is itself under STP.
    found = report(
        {UNITS: UNITS_HEADER + "STP,Sở Tư pháp,department,NEW,1\nNEW,Mới,commune,STP,1\n"}
    )
    assert [(line, column) for _k, line, column, _r in found] == [
        (2, "parent_code"),
        (3, "parent_code"),
    ]


def test_own_parent() -> None:
    found = report({UNITS: UNITS_HEADER + "STP,Sở Tư pháp,department,STP,1\n"})
    assert found == [(UNITS, 2, "parent_code", "Đơn vị không thể là cấp trên của chính nó.")]


def test_empty_over_long_and_unsafe_values() -> None:
    long_code, long_name = "A" * 65, "Đ" * 301
    found = report(
        {
            UNITS: UNITS_HEADER
            + ",Không mã,department,,1\n"
            + "C1,,department,,1\n"
            + "C2,Tên,,,1\n"
            + f"{long_code},Tên,department,,1\n"
            + f"C3,{long_name},department,,1\n"
            + "C4,=HYPERLINK(1),department,,1\n"
            + "C 5,Tên,department,,1\n"
            + "C6,Tên,department,,maybe\n"
            + "C7,Tên,department,,\n",
        }
    )
    assert found == [
        (UNITS, 2, "code", "Thiếu mã đơn vị."),
        (UNITS, 3, "name", "Thiếu tên đơn vị."),
        (UNITS, 4, "level_code", "Thiếu mã cấp đơn vị."),
        (UNITS, 5, "code", "mã đơn vị dài tối đa 64 ký tự."),
        (UNITS, 6, "name", "tên đơn vị dài tối đa 300 ký tự."),
        (
            UNITS,
            7,
            "name",
            "tên đơn vị không được bắt đầu bằng dấu bằng, dấu cộng, dấu trừ hoặc @ "
            "(bảng tính sẽ hiểu là công thức).",
        ),
        (
            UNITS,
            8,
            "code",
            "mã đơn vị chỉ gồm chữ, chữ số và các dấu _ . - /, bắt đầu bằng chữ hoặc số, "
            "không có dấu cách.",
        ),
        (UNITS, 9, "active", "Cột active ghi 1 (đang hoạt động) hoặc 0 (ngừng hoạt động)."),
        (UNITS, 10, "active", "Cột active ghi 1 (đang hoạt động) hoặc 0 (ngừng hoạt động)."),
    ]


def test_every_bad_row_is_named_not_just_the_first() -> None:
    rows = "".join(f"D{i},,department,,1\n" for i in range(200))
    found = report({UNITS: UNITS_HEADER + "OK,Tốt,department,,1\n" + rows})
    assert [line for _k, line, _c, _r in found] == list(range(3, 203))


def test_a_merged_unit_cannot_be_reopened_by_a_file() -> None:
    found = report({UNITS: UNITS_HEADER + "OLD,UBND xã cũ,commune,,1\n"})
    assert found == [
        (
            UNITS,
            2,
            "active",
            "Đơn vị OLD đã sáp nhập vào PBM; không mở lại bằng tệp nhập được.",
        )
    ]
    assert changes_of({UNITS: UNITS_HEADER + "OLD,UBND xã cũ (tên mới),commune,,0\n"}).units


def test_a_desk_serves_only_areas_of_its_unit() -> None:
    found = report({DESKS: DESKS_HEADER + "STP,STP-Q1,Quầy 1,DD,1\n"})
    assert found == [
        (
            DESKS,
            2,
            "areas",
            "Đơn vị STP không phục vụ lĩnh vực DD; thêm lĩnh vực cho đơn vị trước "
            "(tệp unit_areas).",
        )
    ]
    # ... unless the same upload gives the unit that area.
    changes = changes_of(
        {
            UNIT_AREAS: AREAS_HEADER + "STP,HT\nSTP,DD\n",
            DESKS: DESKS_HEADER + "STP,STP-Q1,Quầy 1,DD,1\n",
        }
    )
    assert changes.links_added == 1 and changes.desks_created == 1


def test_removing_an_area_a_desk_still_serves_is_refused() -> None:
    found = report({UNIT_AREAS: AREAS_HEADER + "PBM,HT\n"})
    assert [(kind, line, column) for kind, line, column, _r in found] == [
        (UNIT_AREAS, 2, "area_code")
    ]
    assert "PBM-Q1" in found[0][3]
    # Moving the desk off that area in the same upload is fine.
    changes = changes_of(
        {
            UNIT_AREAS: AREAS_HEADER + "PBM,HT\n",
            DESKS: DESKS_HEADER + "PBM,PBM-Q1,Quầy số 1,,1\n",
        }
    )
    assert changes.links_removed == 1 and changes.desks_updated == 1


def test_a_desk_may_use_a_unit_created_by_the_same_upload() -> None:
    changes = changes_of(
        {
            UNITS: UNITS_HEADER + "XTT,UBND xã Tân Thành,commune,PBM,1\n",
            UNIT_AREAS: AREAS_HEADER + "XTT,HT\n",
            DESKS: DESKS_HEADER + "XTT,XTT-Q1,Quầy số 1,HT,1\n",
        }
    )
    assert (changes.units_created, changes.links_added, changes.desks_created) == (1, 1, 1)
    assert changes.created == 2 and changes.updated == 0


# --- what changes ------------------------------------------------------------------------------


def test_the_stored_state_imports_to_no_change() -> None:
    changes = changes_of({kind: export_csv(kind, STATE).decode("utf-8-sig") for kind in KINDS})
    assert not changes.any
    assert (changes.created, changes.updated) == (0, 0)
    assert (changes.units_unchanged, changes.unit_areas_unchanged, changes.desks_unchanged) == (
        3,
        2,
        1,
    )


def test_decomposed_accents_equal_the_stored_name() -> None:
    decomposed = unicodedata.normalize("NFD", "Sở Tư pháp")
    assert decomposed != "Sở Tư pháp"
    changes = changes_of({UNITS: UNITS_HEADER + f"STP,{decomposed},department,,1\n"})
    assert not changes.any


def test_a_new_version_updates_names_and_adds_what_is_new() -> None:
    changes = changes_of(
        {
            UNITS: UNITS_HEADER
            + "STP,Sở Tư pháp tỉnh,department,,1\n"
            + "SXD,Sở Xây dựng,department,,1\n",
        }
    )
    assert [(c.code, c.before, c.after) for c in changes.units] == [
        ("STP", {"name": "Sở Tư pháp"}, {"name": "Sở Tư pháp tỉnh"}),
        (
            "SXD",
            None,
            {
                "code": "SXD",
                "name": "Sở Xây dựng",
                "level_code": "department",
                "parent_code": None,
                "active": True,
            },
        ),
    ]
    assert (changes.created, changes.updated) == (1, 1)


def test_absent_optional_columns_leave_stored_values_alone() -> None:
    changes = changes_of(
        {
            UNITS: "code,name,level_code\nOLD,UBND xã cũ,commune\n",
            DESKS: "unit_code,code,name\nPBM,PBM-Q1,Quầy một\n",
        }
    )
    assert [(c.code, c.after) for c in changes.desks] == [("PBM-Q1", {"name": "Quầy một"})]
    assert not changes.units


# --- fuzzing -----------------------------------------------------------------------------------

CODES = st.text(alphabet="ABCDEFGHXYZ0123456789-_./", min_size=1, max_size=12).filter(
    lambda c: c[0].isalnum()
)
NAMES = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=60,
    )
    .map(lambda s: unicodedata.normalize("NFC", s).strip())
    .filter(lambda s: s != "" and not s.startswith(("=", "+", "-", "@")))
    # \x85 and the like are white space to str.strip but not control characters to CSV.
    .filter(lambda s: s == unicodedata.normalize("NFC", s).strip())
)


@st.composite
def org_states(draw: st.DrawFn) -> OrgState:
    areas = draw(st.frozensets(CODES, max_size=5))
    codes = draw(st.lists(CODES, unique=True, max_size=12))
    units: dict[str, UnitState] = {}
    unit_areas: dict[str, frozenset[str]] = {}
    for i, code in enumerate(codes):
        parent = draw(st.sampled_from([None, *codes[:i]]))
        merged = draw(st.booleans()) and i > 0
        units[code] = UnitState(
            code,
            draw(NAMES),
            draw(st.sampled_from(["department", "commune"])),
            parent,
            not merged and draw(st.booleans()),
            codes[0] if merged else None,
        )
        if areas:
            unit_areas[code] = draw(st.frozensets(st.sampled_from(sorted(areas))))
    desks: dict[str, DeskState] = {}
    if codes:
        for code in draw(st.lists(CODES, unique=True, max_size=8)):
            unit = draw(st.sampled_from(codes))
            served = sorted(unit_areas.get(unit, frozenset()))
            chosen = draw(st.frozensets(st.sampled_from(served))) if served else frozenset()
            desks[code] = DeskState(
                code, unit, draw(NAMES), tuple(sorted(chosen)), draw(st.booleans())
            )
    return OrgState(frozenset({"department", "commune"}), areas, units, unit_areas, desks)


@settings(max_examples=150, deadline=None)
@given(org_states())
def test_any_export_imports_back_to_no_change(state: OrgState) -> None:
    tables = {}
    for kind in KINDS:
        table, problems = read_table(kind, export_csv(kind, state))
        if table is None:  # nothing of that kind: the export is a header only
            assert [str(p.reason) for p in problems] == ["Tệp không có dòng dữ liệu nào."]
            continue
        tables[kind] = table
    plan = plan_import(tables, state)
    assert [str(p.reason) for p in plan.problems] == []
    assert not diff_plan(plan, state).any


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(KINDS),
    st.one_of(
        st.binary(max_size=400),
        st.text(alphabet=',;"\n\r ABCHTD-Q1é\ufeff\x00', max_size=300).map(str.encode),
        st.lists(st.lists(st.text(alphabet='AB,;"\n x', max_size=6), max_size=6), max_size=6).map(
            lambda rows: (
                "code,name,level_code,parent_code,active,unit_code,area_code,areas\n"
                + "\n".join(",".join(r) for r in rows)
            ).encode()
        ),
    ),
)
def test_arbitrary_bytes_give_a_report_or_a_plan_never_an_exception(kind: str, data: bytes) -> None:
    table, problems = read_table(kind, data)
    if table is None:
        assert problems, "an unreadable file must say why"
        assert all(p.file == kind for p in problems)
        return
    plan = plan_import({kind: table}, STATE)
    for problem in plan.problems:
        assert str(problem.reason)
        assert problem.line is None or problem.line >= 2


# --- the database side -------------------------------------------------------------------------


def _admin() -> User:
    return create_user(username="admin", password="ao-dai-xanh-2026", role=Role.ADMIN, now=utcnow())


def _files(**contents: str) -> dict[str, tuple[str, bytes]]:
    return {kind: (f"{kind}.csv", text.encode()) for kind, text in contents.items()}


def _counts() -> tuple[int, int, int, int]:
    db.session.expire_all()
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Unit, Desk, ServiceArea, AuditEvent)
    )


def test_import_then_the_same_files_again_changes_nothing(app: Flask) -> None:
    with app.app_context():
        make_level("department")
        make_level("commune")
        make_area("HT")
        make_area("DD", "Đất đai", "Land")
        admin = _admin()
        files = _files(
            units=UNITS_HEADER + "HPD,UBND huyện Phong Điền,department,,1\n"
            "XTT,UBND xã Tân Thành,commune,HPD,1\n",
            unit_areas=AREAS_HEADER + "XTT,HT\nXTT,DD\n",
            desks=DESKS_HEADER + "XTT,XTT-Q1,Quầy số 1,HT,1\nXTT,XTT-Q2,Quầy số 2,,1\n",
        )
        first = import_organisation(files, now=utcnow(), actor=admin)
        db.session.commit()
        assert first.ok
        assert (first.changes.created, first.changes.updated) == (4, 0)
        xtt = db.session.scalar(select(Unit).where(Unit.code == "XTT"))
        assert xtt is not None and xtt.parent is not None and xtt.parent.code == "HPD"
        assert [a.code for a in xtt.service_areas] == ["DD", "HT"]
        desks = {d.code: d for d in xtt.desks}
        assert [a.code for a in desks["XTT-Q1"].service_areas] == ["HT"]
        tokens = {d.code: d.token for d in xtt.desks}
        assert all(len(t) >= 40 for t in tokens.values())
        events = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert events.count("unit.create") == 2 and events.count("desk.create") == 2
        assert events[-1] == "org.import"

        before = _counts()
        again = import_organisation(files, now=utcnow(), actor=admin)
        db.session.commit()
        assert again.ok
        assert (again.changes.created, again.changes.updated) == (0, 0)
        assert not again.changes.any
        # Only the record that an import was run: no unit, desk or link event.
        assert _counts() == (*before[:3], before[3] + 1)
        assert {d.code: d.token for d in db.session.scalars(select(Desk))} == tokens


def test_a_new_version_updates_names_and_adds_and_keeps_desk_links(app: Flask) -> None:
    with app.app_context():
        area = make_area()
        unit = make_unit("PBM", "UBND phường Bình Minh", [area])
        desk = make_desk(unit, "PBM-Q1")
        token = desk.token
        admin = _admin()
        outcome = import_organisation(
            _files(
                units=UNITS_HEADER + "PBM,UBND phường Bình Minh mới,department,,1\n"
                "PBM2,Điểm phục vụ số 2,department,PBM,1\n",
                desks=DESKS_HEADER + "PBM,PBM-Q1,Quầy tiếp nhận,,1\nPBM,PBM-Q2,Quầy 2,HT,1\n",
            ),
            now=utcnow(),
            actor=admin,
        )
        db.session.commit()
        assert outcome.ok
        changes = outcome.changes
        assert (changes.units_created, changes.units_updated) == (1, 1)
        assert (changes.desks_created, changes.desks_updated) == (1, 1)
        db.session.expire_all()
        assert db.session.get(Unit, unit.id).name == "UBND phường Bình Minh mới"  # type: ignore[union-attr]
        kept = db.session.get(Desk, desk.id)
        assert kept is not None and kept.name == "Quầy tiếp nhận" and kept.token == token
        update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "unit.update"))
        assert update is not None
        assert update.before == {"name": "UBND phường Bình Minh"}
        assert update.after == {"code": "PBM", "name": "UBND phường Bình Minh mới"}


@pytest.mark.parametrize(
    "files",
    [
        {"units": ("units.csv", b"code,name\nA,B\n")},
        {
            "units": (
                "units.csv",
                (UNITS_HEADER + "NEW,Mới,department,,1\nA,B,department,A,1\n").encode(),
            )
        },
        {
            "units": ("units.csv", (UNITS_HEADER + "NEW,Mới,department,,1\n").encode()),
            "desks": ("desks.csv", (DESKS_HEADER + "NOPE,Q1,Quầy,,1\n").encode()),
        },
        {"units": ("units.xlsx", b"PK\x03\x04" + bytes(100))},
        {"units": ("units.csv", "code,name,level_code\nĐ,Đơn vị,department\n".encode("utf-16"))},
    ],
    ids=["missing-columns", "one-bad-row", "bad-second-file", "not-csv", "utf16"],
)
def test_nothing_is_stored_when_any_row_is_bad(
    app: Flask, files: dict[str, tuple[str, bytes]]
) -> None:
    with app.app_context():
        make_level("department")
        admin = _admin()
        db.session.commit()
        before = _counts()
        outcome = import_organisation(files, now=utcnow(), actor=admin)
        assert not outcome.ok
        db.session.rollback()
        assert _counts() == before


def test_the_export_of_a_province_imports_back_to_no_change(app: Flask) -> None:
    from survey.services.demo import build_demo_province

    with app.app_context():
        build_demo_province(now=utcnow())
        admin = _admin()
        old = load_state()
        # A merged unit and an inactive desk are exported too.
        xpl = db.session.scalar(select(Unit).where(Unit.code == "XPL"))
        pbm = db.session.scalar(select(Unit).where(Unit.code == "PBM"))
        assert xpl is not None and pbm is not None
        xpl.is_active, xpl.successor = False, pbm
        pbm.desks[0].is_active = False
        db.session.commit()
        files = {kind: (f"{kind}.csv", export_csv(kind)) for kind in KINDS}
        outcome = import_organisation(files, now=utcnow(), actor=admin)
        assert outcome.ok, [str(p.reason) for p in outcome.problems]
        assert not outcome.changes.any
        assert outcome.changes.units_unchanged == len(old.units)
        assert outcome.changes.desks_unchanged == len(old.desks)
