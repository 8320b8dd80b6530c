"""Invitation letters read back with an independent QR reader, and the delivery list."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pypdfium2
import zxingcpp
from flask import Flask
from pypdf import PdfReader
from reportlab.lib.units import mm

from survey.local_time import to_utc
from survey.models import Round, utcnow
from survey.services.rounds.letters import delivery_list_csv, write_letters
from survey.services.rounds.sampling import draw_sample, find_invitation, import_frame
from tests.services.rounds.test_sampling import KEY, _frame, _round


def _drawn(app: Flask) -> Round:
    round_, admin = _round()
    import_frame(round_, _frame().encode(), key=KEY, now=utcnow(), actor=admin)
    draw_sample(round_, method="proportional", total=6, seed=7, key=KEY, now=utcnow(), actor=admin)
    return round_


def test_every_letter_is_an_a5_page_whose_qr_code_leads_back_to_its_invitation(
    app: Flask,
) -> None:
    with app.test_request_context():
        round_ = _drawn(app)
        out = io.BytesIO()
        assert write_letters(round_, KEY, out) == 6
        pdf = out.getvalue()
        again = io.BytesIO()
        write_letters(round_, KEY, again)
        assert again.getvalue() == pdf  # reproducible: the same round, the same bytes
        document = pypdfium2.PdfDocument(pdf)
        texts = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
        references = []
        for number, page in enumerate(document):
            width, height = page.get_size()
            assert (round(width / mm), round(height / mm)) == (148, 210)
            (result,) = zxingcpp.read_barcodes(page.render(scale=2).to_pil())
            code = result.text.rsplit("/m/", 1)[1]
            invitation = find_invitation(round_.id, code, KEY)
            assert invitation is not None
            references.append(invitation.reference)
            assert code in texts[number] and invitation.reference in texts[number]
            assert invitation.frame_row.unit.name in " ".join(texts[number].split())
            assert "chọn ngẫu nhiên" in texts[number]
        document.close()
        assert references == sorted(references) and len(set(references)) == 6


def test_the_delivery_list_has_one_line_per_letter_and_no_code(app: Flask) -> None:
    with app.test_request_context():
        round_ = _drawn(app)
        out = io.BytesIO()
        write_letters(round_, KEY, out)
        listing = delivery_list_csv(round_).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(listing)))
        assert rows[0] == ["so_tham_chieu", "don_vi", "linh_vuc", "ngay_hoan_thanh", "trang_thu"]
        assert [r[4] for r in rows[1:]] == [str(n) for n in range(1, 7)]
        text = PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
        first_code = text.split("Mã trả lời: ")[1].split()[0]
        assert first_code not in listing
        assert "000.00." not in listing  # no dossier code either


def test_the_letter_gives_the_period_as_the_days_in_vietnam(app: Flask) -> None:
    # A round set to run from 00:00 on 1 December to 23:59 on 31 December, Vietnam time, is
    # stored in UTC as 30 November 17:00 to 31 December 16:59: the letter must say 01/12.
    with app.test_request_context():
        round_ = _drawn(app)
        round_.opens_at = to_utc(datetime(2026, 12, 1, 0, 0))
        round_.closes_at = to_utc(datetime(2026, 12, 31, 23, 59))
        out = io.BytesIO()
        write_letters(round_, KEY, out)
        text = " ".join(PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text().split())
        assert "(từ 01/12/2026 đến 31/12/2026)" in text
