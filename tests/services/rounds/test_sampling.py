"""A sampled round as an office runs it: the frame with bad lines, the draw, the invitations."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select

from survey.errors import ConflictError
from survey.extensions import db
from survey.models import (
    AuditEvent,
    Invitation,
    Role,
    Round,
    SampleDraw,
    SampleFrameRow,
    SampleStratum,
    Unit,
    User,
    utcnow,
)
from survey.services.accounts.users import create_user
from survey.services.rounds.sampling import (
    draw_sample,
    find_invitation,
    find_invitation_by_reference,
    import_frame,
    one_time_code,
    record_invitation_outcome,
    response_rates,
)
from tests.factories import make_area, make_round, make_unit

KEY = b"test-dossier-code-key"
HEADER = "ma_don_vi,ma_linh_vuc,ma_ho_so,ngay_hoan_thanh\n"


def _round() -> tuple[Round, User]:
    land, civil = make_area("DD", "Đất đai", "Land"), make_area()
    make_unit("U01", areas=[land, civil])
    make_unit("U02", "UBND xã A", areas=[civil])
    round_ = make_round(list(db.session.scalars(select(Unit))))
    round_.kind = "sample"
    admin = db.session.scalar(select(User)) or create_user(
        username="admin", password="Sóng-biển-Cần-Thơ-2026-xanh", role=Role.ADMIN, now=utcnow()
    )
    db.session.flush()
    return round_, admin


def _frame(n_u01_land: int = 40, n_u01_civil: int = 20, n_u02: int = 10) -> str:
    lines = [HEADER]
    for unit, area, n in (
        ("U01", "DD", n_u01_land),
        ("U01", "HT", n_u01_civil),
        ("U02", "HT", n_u02),
    ):
        lines += [
            f"{unit},{area},000.00.{unit}.H{area}-2603{i:04d},2026-03-{1 + i % 28:02d}\n"
            for i in range(n)
        ]
    return "".join(lines)


def test_a_frame_with_bad_lines_is_refused_line_by_line_and_nothing_stored(app: Flask) -> None:
    with app.test_request_context():
        round_, admin = _round()
        data = (
            HEADER
            + "U01,DD,000.00.12.H13-260301-0001,2026-03-01\n"  # line 2: good
            + "U99,DD,000.00.12.H13-260301-0002,2026-03-01\n"  # 3: unknown unit
            + "U01,XX,000.00.12.H13-260301-0003,2026-03-01\n"  # 4: unknown area
            + "U01,DD,000.00.12.H13-260301-0004,31/02/2026\n"  # 5: bad date
            + "U01,DD,000.00.12.H13-260301-0001,2026-03-02\n"  # 6: duplicate of line 2
            + "U01,DD,,2026-03-02\n"  # 7: empty code
            + "U01,DD,"
            + "9" * 60
            + ",2026-03-02\n"  # 8: too long
            + 'U01,DD,=HYPERLINK("http://x"),2026-03-02\n'  # 9: hostile content
        )
        outcome = import_frame(round_, data.encode(), key=KEY, now=utcnow(), actor=admin)
        assert not outcome.ok
        assert [(e.line, e.column) for e in outcome.errors] == [
            (3, "unit_code"),
            (4, "service_area_code"),
            (5, "completed_on"),
            (6, "dossier_code"),
            (7, "dossier_code"),
            (8, "dossier_code"),
            (9, "dossier_code"),
        ]
        assert "dòng 2" in str(outcome.errors[3].reason)
        assert db.session.scalar(select(func.count()).select_from(SampleFrameRow)) == 0


def test_codes_are_stored_only_as_keyed_hashes(app: Flask) -> None:
    with app.test_request_context():
        round_, admin = _round()
        outcome = import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
        assert outcome.ok and outcome.rows == 70
        hashes = list(db.session.scalars(select(SampleFrameRow.code_hash)))
        assert all(len(h) == 64 and "U01" not in h for h in hashes)


def test_the_draw_is_recorded_reproducible_and_issues_one_invitation_per_sampled_dossier(
    app: Flask,
) -> None:
    samples = []
    for _ in range(2):
        with app.test_request_context():
            round_, admin = _round()
            import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
            draw = draw_sample(
                round_,
                method="minimum",
                total=21,
                minimum=7,
                seed=42,
                key=KEY,
                now=utcnow(),
                actor=admin,
            )
            assert db.session.get(SampleDraw, round_.id) is draw and draw.seed == 42
            strata = {
                (s.unit_id, s.service_area_id): (s.population, s.sample_size)
                for s in db.session.scalars(select(SampleStratum))
            }
            # minimum 7 per unit: U01's 7 split 40:20 -> 5 + 2, U02 gets 7; the other 7 go 40:20:10
            # -> 4 + 2 + 1
            assert sorted(strata.values()) == [(10, 8), (20, 4), (40, 9)]
            invitations = list(
                db.session.scalars(select(Invitation).order_by(Invitation.reference))
            )
            assert len(invitations) == 21
            assert len({i.frame_row_id for i in invitations}) == 21
            assert {i.state for i in invitations} == {"issued"}
            first = invitations[0]
            code = one_time_code(round_.id, first.frame_row.code_hash, KEY)
            assert find_invitation(round_.id, code, KEY) is first
            assert find_invitation(round_.id, "AAAAAAAAAA", KEY) is None
            assert db.session.scalar(
                select(AuditEvent).where(AuditEvent.action == "round.sample_draw")
            )
            samples.append(sorted(i.frame_row.code_hash for i in invitations))
            with pytest.raises(ConflictError):
                draw_sample(round_, method="equal", total=3, key=KEY, now=utcnow(), actor=admin)
            with pytest.raises(ConflictError):
                import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
            db.session.rollback()
    assert samples[0] == samples[1]


def test_an_impossible_allocation_writes_nothing(app: Flask) -> None:
    with app.test_request_context():
        round_, admin = _round()
        import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
        with pytest.raises(ValueError, match="exceeds the frame size"):
            draw_sample(round_, method="proportional", total=71, key=KEY, now=utcnow(), actor=admin)
        assert db.session.get(SampleDraw, round_.id) is None
        assert Counter(db.session.scalars(select(Invitation.state))) == Counter()


def test_a_qr_round_has_no_frame(app: Flask) -> None:
    with app.test_request_context():
        round_, admin = _round()
        round_.kind = "qr"
        with pytest.raises(ConflictError):
            import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)


def test_outcomes_without_answers_feed_the_response_rates_and_answers_need_their_answers(
    app: Flask,
) -> None:
    with app.test_request_context():
        round_, admin = _round()
        import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
        draw_sample(round_, method="equal", total=6, seed=3, key=KEY, now=utcnow(), actor=admin)
        first = find_invitation_by_reference(round_.id, f"{round_.id}-00001")
        second = find_invitation_by_reference(round_.id, f" {round_.id}-00002 ")
        assert first is not None and second is not None
        record_invitation_outcome(first, "refused", now=utcnow(), actor=admin)
        record_invitation_outcome(second, "undeliverable", now=utcnow(), actor=admin)
        assert (first.state, second.state) == ("refused", "undeliverable")
        with pytest.raises(ConflictError):  # an answer is entered with its answers
            record_invitation_outcome(first, "answered", now=utcnow(), actor=admin)
        with pytest.raises(ValueError):
            record_invitation_outcome(second, "lost", now=utcnow(), actor=admin)
        strata, overall = response_rates(round_)
        assert sum(s.dispositions.sampled for s in strata) == overall.sampled == 6
        assert (overall.refused, overall.noncontact, overall.no_reply) == (1, 1, 4)
        assert overall.rr1 == overall.rr2 == 0.0
        record_invitation_outcome(first, "issued", now=utcnow(), actor=admin)  # a mistake undone
        assert response_rates(round_)[1].refused == 0


def test_a_provinces_year_of_dossiers_fits_one_frame_and_a_bigger_file_is_refused(
    app: Flask,
) -> None:
    """Other uploads stop at 50,000 lines; a frame is a year of completed dossiers."""
    with app.test_request_context():
        round_, admin = _round()
        big = HEADER + "".join(f"U01,DD,000.00.U01.DD-{i:06d},2026-03-01\n" for i in range(60_001))
        outcome = import_frame(round_, big.encode(), key=KEY, now=utcnow(), actor=admin)
        assert outcome.ok and outcome.rows == 60_001
        db.session.rollback()
        huge = HEADER + "U01,DD,1,2026-03-01\n" * 300_001
        refused = import_frame(round_, huge.encode(), key=KEY, now=utcnow(), actor=admin)
        assert not refused.ok and "quá nhiều dòng" in str(refused.errors[0].reason)
