"""Drawing desk posters into a PDF, one poster a page, A4 or A5 portrait.

ReportLab draws straight into PDF operators with no layout engine in between (a thousand pages
in a few seconds), embeds a subset of a TrueType font, and is maintained by a company that
prints for a living. The QR code is drawn as vector rectangles, sharp at any printer
resolution. The font is DejaVu Sans, which has every precomposed Vietnamese letter; it is taken
from matplotlib, a runtime dependency already, so a fresh install has it.

The poster text is Vietnamese whatever the language of the staff member who prints it: it is
read by citizens at the desk.
"""

from __future__ import annotations

import importlib.util
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import BinaryIO

from reportlab import rl_config
from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.pagesizes import A4, A5
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from survey.services.posters.qr import qr_matrix

# Binary page streams: a quarter smaller than ASCII85 text, and ReportLab's pure-Python ASCII85
# encoder takes a second per thousand pages. Nothing else in the application writes PDF.
rl_config.useA85 = 0

HEADING = "KHẢO SÁT SỰ HÀI LÒNG"
INVITATION = "Mời Ông/Bà quét mã để đánh giá sự hài lòng"
AREAS_LABEL = "Lĩnh vực"
URL_LABEL = "hoặc mở địa chỉ:"
ANONYMOUS = "Phiếu khảo sát không ghi tên, không hỏi số điện thoại."
DESK_CODE_LABEL = "Mã quầy"

SANS, SANS_BOLD, MONO = "HailongSans", "HailongSans-Bold", "HailongMono"
FONT_FILES = {SANS: "DejaVuSans.ttf", SANS_BOLD: "DejaVuSans-Bold.ttf", MONO: "DejaVuSansMono.ttf"}

RED = HexColor("#9c1c1c")
INK = HexColor("#1f2d3d")
GREY = HexColor("#4a4a4a")
BLACK = Color(0, 0, 0)

# Sizes are for A4 and scale with the page width: the QR code is 10 cm on A4, 7 cm on A5.
A4_WIDTH = A4[0]
MARGIN = 16 * mm
BAND = 20 * mm
QR_SIZE = 100 * mm
MIN_QR_SIZE = 50 * mm  # the requirement; checked in tests
QUIET_ZONE_MODULES = 4
# Rows of modules overlap by a hair so that no viewer draws seams between them.
RUN_HEIGHT = "1.01"


class PaperSize(StrEnum):
    A4 = "A4"
    A5 = "A5"

    @property
    def points(self) -> tuple[float, float]:
        return A4 if self is PaperSize.A4 else A5


@dataclass(frozen=True)
class Poster:
    """What one desk's poster says; the URL is the one the QR code encodes."""

    unit_name: str
    desk_name: str
    desk_code: str
    areas: tuple[str, ...]
    url: str


@cache
def font_dir() -> Path:
    spec = importlib.util.find_spec("matplotlib")  # found without importing matplotlib
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib, which ships the poster font, is not installed")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


@cache
def register_fonts() -> None:
    for name, filename in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(font_dir() / filename)))


def _text(value: str) -> str:
    # Names typed on some systems arrive decomposed (base letter + combining marks); the font's
    # precomposed letters only render them correctly in NFC.
    return unicodedata.normalize("NFC", " ".join(value.split()))


@dataclass(frozen=True)
class _Block:
    lines: list[str]
    font: str
    size: float

    @property
    def leading(self) -> float:
        return self.size * 1.25

    @property
    def height(self) -> float:
        return self.leading * len(self.lines)


def _fit(text: str, font: str, size: float, width: float, max_lines: int) -> _Block:
    """``text`` wrapped to ``width``, shrunk (to 70%) to fit ``max_lines``, else cut short."""
    for step in range(7):
        trial = size * (1 - 0.05 * step)
        lines = simpleSplit(text, font, trial, width)
        if len(lines) <= max_lines:
            return _Block(lines, font, trial)
    kept = lines[:max_lines]
    kept[-1] = _ellipsis(kept[-1], font, trial, width)
    return _Block(kept, font, trial)


def _ellipsis(line: str, font: str, size: float, width: float) -> str:
    while line and pdfmetrics.stringWidth(line + " …", font, size) > width:
        line = line[:-1]
    return line.rstrip() + " …"


def _url_block(url: str, size: float, width: float) -> _Block:
    """The URL on one line if it stays legible (7 pt), else broken over two."""
    fitted = min(size, width / pdfmetrics.stringWidth(url, MONO, 1))
    if fitted >= 7:
        return _Block([url], MONO, fitted)
    per_line = max(1, int(width / pdfmetrics.stringWidth("M", MONO, 7)))
    return _Block([url[i : i + per_line] for i in range(0, len(url), per_line)][:3], MONO, 7)


class PosterCanvas:
    """Draws posters on consecutive pages of one PDF."""

    def __init__(self, out: BinaryIO, size: PaperSize, *, title: str) -> None:
        register_fonts()
        self.width, self.height = size.points
        self.scale = self.width / A4_WIDTH
        # invariant: no timestamp or random id in the file, so the same posters give the same
        # bytes from the console and from ``flask posters``.
        self.canvas = Canvas(out, pagesize=size.points, invariant=True, pageCompression=1)
        self.canvas.setTitle(title)
        self.canvas.setAuthor("Hài lòng")
        self.canvas.setCreator("Hài lòng")
        self.canvas.setSubject(INVITATION)
        self.pages = 0

    def draw(self, poster: Poster) -> float:
        """Draw one poster on a new page; returns the room left above the footer (points)."""
        c, k = self.canvas, self.scale
        width = self.width - 2 * MARGIN * k
        centre = self.width / 2

        c.setFillColor(RED)
        c.rect(0, self.height - BAND * k, self.width, BAND * k, stroke=0, fill=1)
        c.setFillColor(white)
        c.setFont(SANS_BOLD, 17 * k)
        c.drawCentredString(centre, self.height - BAND * k / 2 - 6 * k, HEADING)

        y = self.height - (BAND + 12 * mm) * k
        blocks = [
            (_fit(_text(poster.unit_name), SANS_BOLD, 24 * k, width, 3), INK, 3 * mm),
            (_fit(_text(poster.desk_name), SANS_BOLD, 20 * k, width, 2), RED, 2 * mm),
        ]
        if poster.areas:
            areas = f"{AREAS_LABEL}: " + "; ".join(_text(a) for a in poster.areas)
            blocks.append((_fit(areas, SANS, 13 * k, width, 3), INK, 0))
        for block, colour, gap in blocks:
            y = self._lines(block, colour, y) - gap * k

        invitation = _fit(INVITATION, SANS_BOLD, 19 * k, width, 2)
        y = self._lines(invitation, RED, y - 7 * mm * k)

        matrix = qr_matrix(poster.url)
        module = QR_SIZE * k / len(matrix)
        quiet = QUIET_ZONE_MODULES * module
        y -= quiet
        self._qr(matrix, centre - QR_SIZE * k / 2, y, module)
        y -= QR_SIZE * k + quiet

        y = self._lines(_fit(URL_LABEL, SANS, 11 * k, width, 1), GREY, y)
        y = self._lines(_url_block(poster.url, 12 * k, width), INK, y)

        footer = (MARGIN - 4 * mm) * k
        c.setFillColor(GREY)
        c.setFont(SANS, 9.5 * k)
        c.drawCentredString(centre, footer + 12 * k, ANONYMOUS)
        c.drawCentredString(centre, footer, f"{DESK_CODE_LABEL}: {_text(poster.desk_code)}")
        c.showPage()
        self.pages += 1
        return y - (footer + 12 * k + 9.5 * k)

    def save(self) -> None:
        self.canvas.save()

    def _lines(self, block: _Block, colour: Color, top: float) -> float:
        """Centred lines from ``top`` down; returns the y below them."""
        self.canvas.setFillColor(colour)
        self.canvas.setFont(block.font, block.size)
        y = top
        for line in block.lines:
            y -= block.leading
            self.canvas.drawCentredString(self.width / 2, y + block.size * 0.25, line)
        return y

    def _qr(self, matrix: list[list[bool]], left: float, top: float, module: float) -> None:
        """The symbol as one filled path of horizontal runs of dark modules, in module units
        (whole numbers: a thousand codes are half a million rectangles, and formatting them
        as floats would cost more than all the rest of the poster)."""
        size = len(matrix)
        runs = []
        for r, row in enumerate(matrix):
            y = size - 1 - r
            c = 0
            while c < size:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < size and row[c]:
                    c += 1
                runs.append(f"{start} {y} {c - start} {RUN_HEIGHT} re")
        canvas = self.canvas
        canvas.saveState()
        canvas.translate(left, top - size * module)
        canvas.scale(module, module)
        canvas.setFillColor(BLACK)
        canvas.addLiteral("\n".join(runs) + "\nf")
        canvas.restoreState()


def write_posters(posters: Iterable[Poster], size: PaperSize, out: BinaryIO, *, title: str) -> int:
    """Write one page per poster to ``out``; returns the number of pages."""
    canvas = PosterCanvas(out, size, title=title)
    for poster in posters:
        canvas.draw(poster)
    canvas.save()
    return canvas.pages
