"""The poster PDF itself: Vietnamese text, a QR code that scans and is at least 5 cm wide, text
that never runs into the footer, and the same bytes for the same posters."""

from __future__ import annotations

import io
import unicodedata

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics

from survey.services.posters.pdf import (
    INVITATION,
    MIN_QR_SIZE,
    MONO,
    SANS,
    SANS_BOLD,
    PaperSize,
    Poster,
    PosterCanvas,
    register_fonts,
    write_posters,
)

URL = "https://dichvucong.example.gov.vn/hailong/r/k3Jw0n-Ve8rQ1x_ZpL5aT2mB9cHd4fYs6uGi7oNe0Ak"
POSTER = Poster(
    unit_name="Ủy ban nhân dân phường Bình Minh",
    desk_name="Quầy số 1",
    desk_code="PBM-Q1",
    areas=("Hộ tịch", "Đất đai"),
    url=URL,
)
VIETNAMESE = (
    "aàảãáạăằẳẵắặâầẩẫấậbcdđeèẻẽéẹêềểễếệghiìỉĩíịklmnoòỏõóọôồổỗốộơờởỡớợpqrstuùủũúụưừửữứựvxyỳỷỹýỵ"
)


def _pdf(posters: list[Poster], size: PaperSize = PaperSize.A4) -> bytes:
    buffer = io.BytesIO()
    write_posters(posters, size, buffer, title="Áp phích mã QR – thử")
    return buffer.getvalue()


def test_the_fonts_have_every_vietnamese_letter_and_the_dash() -> None:
    register_fonts()
    letters = VIETNAMESE + VIETNAMESE.upper() + "—–…“”"
    for font in (SANS, SANS_BOLD):
        glyphs = pdfmetrics.getFont(font).face.charToGlyph
        missing = [ch for ch in letters if ord(ch) not in glyphs]
        assert not missing, f"{font} lacks {missing}"
    mono = pdfmetrics.getFont(MONO).face.charToGlyph
    assert all(ord(ch) in mono for ch in URL)


def test_a_poster_says_who_where_and_what_to_do_in_vietnamese() -> None:
    reader = PdfReader(io.BytesIO(_pdf([POSTER])))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    for expected in ("Ủy ban nhân dân phường Bình Minh", "Quầy số 1", "Hộ tịch", "Đất đai"):
        assert expected in text
    assert INVITATION in text
    assert URL in text.replace("\n", "")
    assert "PBM-Q1" in text
    assert reader.metadata is not None and reader.metadata.title == "Áp phích mã QR – thử"


def test_decomposed_names_are_printed_as_proper_letters() -> None:
    decomposed = unicodedata.normalize("NFD", "Ủy ban nhân dân xã Phú Lộc")
    assert decomposed != "Ủy ban nhân dân xã Phú Lộc"
    poster = Poster(decomposed, "Quầy  số\t2", "X", (), URL)
    text = PdfReader(io.BytesIO(_pdf([poster]))).pages[0].extract_text()
    assert "Ủy ban nhân dân xã Phú Lộc" in text
    assert "Quầy số 2" in text


@pytest.mark.parametrize("size", list(PaperSize))
def test_the_qr_code_scans_and_is_at_least_5_cm_wide(size: PaperSize) -> None:
    document = pypdfium2.PdfDocument(_pdf([POSTER], size))
    page = document[0]
    width, height = page.get_size()
    assert (round(width / mm), round(height / mm)) == ((210, 297) if size == "A4" else (148, 210))
    scale = 2  # 144 dpi
    (result,) = zxingcpp.read_barcodes(page.render(scale=scale).to_pil())
    assert result.text == URL
    corners = result.position
    symbol_width = (corners.top_right.x - corners.top_left.x) / scale  # points
    assert symbol_width >= MIN_QR_SIZE
    document.close()


@pytest.mark.parametrize("size", list(PaperSize))
def test_the_longest_texts_stay_clear_of_the_footer(size: PaperSize) -> None:
    worst = Poster(
        unit_name="Trung tâm Phục vụ hành chính công và Bộ phận tiếp nhận và trả kết quả " * 5,
        desk_name="Quầy tiếp nhận hồ sơ đất đai, xây dựng, đăng ký kinh doanh và đầu tư " * 3,
        desk_code="TTPV-" + "Q" * 60,
        areas=tuple(f"Lĩnh vực thủ tục hành chính số {i}" for i in range(23)),
        url="https://dichvucong.example.gov.vn/" + "cap-tinh/" * 12 + "r/" + "A" * 43,
    )
    canvas = PosterCanvas(io.BytesIO(), size, title="x")
    assert canvas.draw(worst) > 0
    assert canvas.draw(POSTER) > canvas.draw(worst)


def test_same_posters_same_bytes() -> None:
    posters = [POSTER, Poster("Sở Tư pháp", "Quầy số 3", "STP-Q3", (), URL + "x")]
    first = _pdf(posters)
    assert first == _pdf(posters)
    assert len(PdfReader(io.BytesIO(first)).pages) == 2
