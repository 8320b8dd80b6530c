"""Invitation letters of a sampled round (one A5 page per sampled dossier) and its delivery list.

A letter tells the citizen who asks, why, which unit and period it is about, and how to answer:
the QR code (a link carrying the one-time code), the address with the code to type, or a paper
form or a phone call quoting the code. The text is Vietnamese whatever the language of the staff
member who prints it. The one-time codes are derived again from the key
(``sampling.one_time_code``), never read from storage, and the PDF carries no timestamp, so the
same round gives the same file.

The delivery list (for the post office or the one-stop desk) has the reference number, unit,
area, completion date and letter page, and no code in clear.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from reportlab.lib.colors import Color, white
from reportlab.lib.units import mm
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from survey.extensions import db
from survey.local_time import to_local
from survey.models import Invitation, Round, SampleFrameRow
from survey.services.exports.spreadsheets import csv_row
from survey.services.posters.content import public_base_url
from survey.services.posters.pdf import (
    GREY,
    INK,
    MONO,
    QUIET_ZONE_MODULES,
    RED,
    SANS,
    SANS_BOLD,
    PaperSize,
    PosterCanvas,
    _Block,
    _fit,
    _text,
)
from survey.services.posters.qr import qr_matrix
from survey.services.rounds.sampling import one_time_code

HEADING = "THƯ MỜI THAM GIA KHẢO SÁT SỰ HÀI LÒNG"
GREETING = "Kính gửi Ông/Bà,"
WHY = (
    "Sở Nội vụ đang khảo sát sự hài lòng của người dân với dịch vụ hành chính công. "
    "Hồ sơ thủ tục hành chính của Ông/Bà tại {unit} (lĩnh vực {area}), hoàn thành ngày {done}, "
    "đã được chọn ngẫu nhiên để khảo sát sự hài lòng của người dân trong {round} "
    "(từ {start} đến {end}). Ý kiến của Ông/Bà giúp cơ quan nhà nước phục vụ tốt hơn."
)
HOW = "Quét mã QR bằng điện thoại để trả lời, hoặc mở địa chỉ dưới đây và nhập mã:"
OTHER_WAYS = (
    "Không dùng điện thoại: điền phiếu giấy kèm theo và gửi lại, hoặc trả lời khi cán bộ gọi "
    "điện hay đến gặp, đọc mã trên cho cán bộ."
)
PRIVACY = "Mã chỉ dùng một lần. Phiếu không ghi tên; câu trả lời chỉ dùng để thống kê."
REFERENCE_LABEL = "Số tham chiếu"
CODE_LABEL = "Mã trả lời"
LETTER_QR_SIZE = 50 * mm
LIST_HEADER = ("so_tham_chieu", "don_vi", "linh_vuc", "ngay_hoan_thanh", "trang_thu")


@dataclass(frozen=True)
class Letter:
    reference: str
    unit_name: str
    area_name: str
    completed_on: date
    code: str
    url: str


def sample_answer_url(code: str) -> str:
    """The link a letter's QR code carries: the public site with the one-time code."""
    return f"{public_base_url()}/m/{code}"


def _invitations(round_: Round) -> list[Invitation]:
    return list(
        db.session.scalars(
            select(Invitation)
            .where(Invitation.round_id == round_.id)
            .order_by(Invitation.reference)
            .options(
                selectinload(Invitation.frame_row).selectinload(SampleFrameRow.unit),
                selectinload(Invitation.frame_row).selectinload(SampleFrameRow.service_area),
            )
        )
    )


def letters_of(round_: Round, key: bytes) -> list[Letter]:
    letters = []
    for invitation in _invitations(round_):
        row = invitation.frame_row
        code = one_time_code(round_.id, row.code_hash, key)
        letters.append(
            Letter(
                reference=invitation.reference,
                unit_name=row.unit.name,
                area_name=row.service_area.name,
                completed_on=row.completed_on,
                code=code,
                url=sample_answer_url(code),
            )
        )
    return letters


class LetterCanvas(PosterCanvas):
    """Letters on consecutive A5 pages, drawn with the posters' fonts and QR symbol."""

    def letter(self, letter: Letter, round_: Round) -> None:
        c = self.canvas
        width = self.width - 2 * 12 * mm
        centre = self.width / 2
        band = 14 * mm
        c.setFillColor(RED)
        c.rect(0, self.height - band, self.width, band, stroke=0, fill=1)
        c.setFillColor(white)
        c.setFont(SANS_BOLD, 11.5)
        c.drawCentredString(centre, self.height - band / 2 - 4, HEADING)

        y = self.height - band - 8 * mm
        c.setFillColor(GREY)
        c.setFont(SANS, 9)
        c.drawRightString(self.width - 12 * mm, y, f"{REFERENCE_LABEL}: {letter.reference}")
        y -= 6 * mm
        why = WHY.format(
            unit=_text(letter.unit_name),
            area=_text(letter.area_name),
            done=letter.completed_on.strftime("%d/%m/%Y"),
            round=_text(round_.name),
            start=to_local(round_.opens_at).strftime("%d/%m/%Y"),
            end=to_local(round_.closes_at).strftime("%d/%m/%Y"),
        )
        for text, font, size, colour, lines in (
            (GREETING, SANS, 10.5, INK, 1),
            (why, SANS, 10, INK, 8),
            (HOW, SANS_BOLD, 10, RED, 3),
        ):
            y = self._lines_left(_fit(text, font, size, width, lines), colour, y) - 2 * mm

        matrix = qr_matrix(letter.url)
        module = LETTER_QR_SIZE / len(matrix)
        y -= QUIET_ZONE_MODULES * module
        self._qr(matrix, centre - LETTER_QR_SIZE / 2, y, module)
        y -= LETTER_QR_SIZE + QUIET_ZONE_MODULES * module
        c.setFillColor(INK)
        c.setFont(MONO, 9)
        c.drawCentredString(centre, y, letter.url[:70])
        y -= 9 * mm
        c.setFont(SANS_BOLD, 13)
        c.drawCentredString(centre, y, f"{CODE_LABEL}: {letter.code}")
        y -= 6 * mm
        for text, size in ((OTHER_WAYS, 9.5), (PRIVACY, 9)):
            y = self._lines_left(_fit(text, SANS, size, width, 3), GREY, y) - 1.5 * mm
        c.showPage()
        self.pages += 1

    def _lines_left(self, block: _Block, colour: Color, top: float) -> float:
        """Lines from the left margin, ``top`` down; returns the y below them."""
        self.canvas.setFillColor(colour)
        self.canvas.setFont(block.font, block.size)
        y = top
        for line in block.lines:
            y -= block.leading
            self.canvas.drawString(12 * mm, y + block.size * 0.25, line)
        return y


def write_letters(round_: Round, key: bytes, out: BinaryIO) -> int:
    """One A5 page per invitation, in reference order; returns the number of pages."""
    canvas = LetterCanvas(out, PaperSize.A5, title=f"{HEADING} – {_text(round_.name)}")
    for letter in letters_of(round_, key):
        canvas.letter(letter, round_)
    canvas.save()
    return canvas.pages


def delivery_list_csv(round_: Round) -> bytes:
    """The list to deliver the letters by: one row per letter, in page order, no codes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LIST_HEADER)
    for page, invitation in enumerate(_invitations(round_), start=1):
        row = invitation.frame_row
        writer.writerow(
            csv_row(
                (
                    invitation.reference,
                    row.unit.name,
                    row.service_area.name,
                    row.completed_on.isoformat(),
                    page,
                )
            )
        )
    return ("\ufeff" + out.getvalue()).encode()
