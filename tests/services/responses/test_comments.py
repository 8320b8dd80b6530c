"""Free-text comments: personal data masked (at storage and on display), moderation by
administrators and analysts, unit officers limited to approved comments of their units."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from survey.services.responses.comments import (
    DOSSIER_MASK,
    EMAIL_MASK,
    ID_MASK,
    NAME_MASK,
    PHONE_MASK,
    mask_personal_data,
)

MASKED = [
    # Vietnamese mobile and landline numbers, with and without separators
    ("Gọi 0912345678 nhé", f"Gọi {PHONE_MASK} nhé"),
    ("SĐT: 0912.345.678.", f"SĐT: {PHONE_MASK}."),
    ("số 0912-345-678", f"số {PHONE_MASK}"),
    ("091 234 5678", PHONE_MASK),
    ("0 912 345 678", PHONE_MASK),
    ("0912 345 678 2 lần rồi", f"{PHONE_MASK} 2 lần rồi"),
    ("+84 912 345 678", PHONE_MASK),
    ("+84912345678", PHONE_MASK),
    ("(+84) 912-345-678", PHONE_MASK),
    ("+84 (0) 912 345 678", PHONE_MASK),
    ("0084912345678", PHONE_MASK),
    ("84912345678", PHONE_MASK),
    ("(024) 3825 1234", PHONE_MASK),
    ("024.3825.1234", PHONE_MASK),
    ("02438251234", PHONE_MASK),
    # a keyword glued to the number is kept, the number is not
    ("sdt0912345678", f"sdt{PHONE_MASK}"),
    ("Số0912345678", f"Số{PHONE_MASK}"),
    ("zalo:0912345678", f"zalo:{PHONE_MASK}"),
    # CCCD (12 digits) and CMND (9 digits)
    ("CCCD 001234567890", f"CCCD {ID_MASK}"),
    ("cccd001234567890", f"cccd{ID_MASK}"),
    ("001 234 567 890", ID_MASK),
    ("001.234.567.890", ID_MASK),
    ("0012 3456 7890", ID_MASK),
    ("CMND 123456789, cấp 2010", f"CMND {ID_MASK}, cấp 2010"),
    ("123 456 789", ID_MASK),
    ("123-456-789", ID_MASK),
    # e-mail addresses, Unicode ones too
    ("email a.b+c@gmail.com.vn ok", f"email {EMAIL_MASK} ok"),
    ("nguyen0912345678@x.vn", EMAIL_MASK),
    ("liên hệ: người.dân@bưu-điện.vn.", f"liên hệ: {EMAIL_MASK}."),
    # tricks: full-width digits, zero-width spaces, two numbers in a row, inside markup
    ("０９１２３４５６７８", PHONE_MASK),
    ("091\u200b2345678", PHONE_MASK),
    ("0912345678/0987654321", f"{PHONE_MASK}/{PHONE_MASK}"),
    ("ngày 12 03 2025 gọi 0912345678", f"ngày 12 03 2025 gọi {PHONE_MASK}"),
    ("<b>0912345678</b>", f"<b>{PHONE_MASK}</b>"),
]

KEPT = [
    "Phí 1.000.000 đồng là quá cao",
    "phải nộp 1,500,000 VND",
    "100.000.000.000",
    "100.000.000",
    "100000000 đồng",
    "500k tiền lệ phí",
    "2 triệu",
    "ngày 12/03/2025 lúc 08:30",
    "05.03.2025 10.30",
    "2025-03-12",
    "ngày 01-12-2025 08 giờ",  # a date and an hour: as many digits as a mobile number
    "giai đoạn 2021-2025",
    "ABC0912345678",  # a code: the number is part of a word
    "H33.25-0912345678",  # part of a dossier code
    "hồ sơ 000.00.12.H33",
    "1234567890",  # ten digits that do not start with 0: not a Vietnamese number
    "12345678",
    "0912345",  # too short
    "09123456789012345",  # too long for anything
    "Phường số 5 đường 3/2",
    "Tiếng Việt có dấu: được phục vụ rất tốt, cảm ơn!",
    "",
]


# Issue 19, finding 11: a dossier code or a name typed into a comment was stored in clear.
MASKED_CASES = [
    ("Mã hồ sơ: H33.25-241205-0001 chậm", f"Mã hồ sơ: {DOSSIER_MASK} chậm"),
    ("nộp 000.00.20.H33-241205-0001 hôm qua", f"nộp {DOSSIER_MASK} hôm qua"),
    ("mã HS 2024001234", f"mã HS {DOSSIER_MASK}"),
    ("số biên nhận là BN-12345.", f"số biên nhận là {DOSSIER_MASK}."),
    ("hồ sơ số 123/2025 chưa xong", f"hồ sơ số {DOSSIER_MASK} chưa xong"),
    ("anh Nguyễn Văn An rất tốt", f"anh {NAME_MASK} rất tốt"),
    ("chị Trần Thị B hướng dẫn", f"chị {NAME_MASK} hướng dẫn"),
    (
        "Cán bộ Võ Thị Sáu, Đặng Minh và Huỳnh Tấn Phát",
        f"Cán bộ {NAME_MASK}, {NAME_MASK} và {NAME_MASK}",
    ),
    ("Lê Văn Tám gọi 0912345678", f"{NAME_MASK} gọi {PHONE_MASK}"),
    ("ông Bùi Đức Hạnh, bà Đỗ Thị Hồng", f"ông {NAME_MASK}, bà {NAME_MASK}"),
    (
        "Dương Quá; Ngô Bảo Châu; Lý Hùng; Phạm Nhật",
        ";".join([NAME_MASK, f" {NAME_MASK}", f" {NAME_MASK}", f" {NAME_MASK}"]),
    ),
    ("Hoàng Anh Tuấn, Phan Văn Khải", f"{NAME_MASK}, {NAME_MASK}"),
]
PLACES_KEPT = [
    "ở TP Hồ Chí Minh rất đông",
    "trụ sở trên đường Lê Lợi",
    "Hà Nội và Cao Bằng",
    "phường Trần Hưng Đạo",
    "Hồ sơ xong nhanh",
    "mã hồ sơ đã nộp",  # no code after the words
    "Nguyễn",  # a family name alone is nobody
    "hồ sơ 000.00.12.H33",
]


@pytest.mark.parametrize(("raw", "masked"), MASKED_CASES)
def test_dossier_codes_and_names_are_masked(raw: str, masked: str) -> None:
    assert mask_personal_data(raw) == masked
    assert mask_personal_data(masked) == masked


@pytest.mark.parametrize("raw", PLACES_KEPT)
def test_places_and_words_that_look_like_names_are_kept(raw: str) -> None:
    assert mask_personal_data(raw) == raw


@pytest.mark.parametrize(("raw", "masked"), MASKED)
def test_personal_data_is_masked(raw: str, masked: str) -> None:
    assert mask_personal_data(raw) == masked


@pytest.mark.parametrize("raw", KEPT)
def test_amounts_dates_and_codes_are_kept(raw: str) -> None:
    assert mask_personal_data(raw) == raw


@pytest.mark.parametrize("raw", [m for m, _ in MASKED] + KEPT)
def test_masking_is_idempotent(raw: str) -> None:
    once = mask_personal_data(raw)
    assert mask_personal_data(once) == once


def test_html_is_left_as_text_for_the_template_to_escape() -> None:
    hostile = '<script>alert("0912345678")</script><img src=x onerror=alert(1)>'
    assert mask_personal_data(hostile) == (
        f'<script>alert("{PHONE_MASK}")</script><img src=x onerror=alert(1)>'
    )


_WORDS = st.sampled_from(["Cán bộ", "rất", "nhiệt tình", "gọi", "số", "xin cảm ơn", "ok", "."])


@st.composite
def _phone(draw: st.DrawFn) -> tuple[str, str]:
    """A Vietnamese mobile number as people write it: its digits and the written form (the
    usual groupings, one separator, or +84 in front)."""
    digits = (
        "0" + draw(st.sampled_from("35789")) + draw(st.text("0123456789", min_size=8, max_size=8))
    )
    groups = draw(st.sampled_from([(10,), (4, 3, 3), (3, 3, 4), (3, 4, 3), (4, 6), (2, 4, 4)]))
    sep = draw(st.sampled_from([" ", ".", "-", ""]))
    parts, at = [], 0
    for size in groups:
        parts.append(digits[at : at + size])
        at += size
    written = sep.join(parts)
    if draw(st.booleans()):
        written = draw(st.sampled_from(["+84 ", "+84", "(+84) ", "0084"])) + written[1:]
    return digits, written


@settings(max_examples=300, deadline=None)
@given(before=_WORDS, after=_WORDS, phone=_phone())
def test_a_phone_number_in_a_sentence_never_survives(
    before: str, after: str, phone: tuple[str, str]
) -> None:
    digits, written = phone
    masked = mask_personal_data(f"{before} {written} {after}")
    assert PHONE_MASK in masked
    assert re.sub(r"\D", "", masked).find(digits[1:]) == -1
