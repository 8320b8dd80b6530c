"""QR codes for desk links: the symbol the ``qrcode`` package would make, found faster.

``qrcode`` picks the mask by building the symbol eight times in pure Python and scoring each
with the ISO/IEC 18004 penalty rules (about 10 ms a code). Printing a province's posters makes
a thousand codes at once, so here the data is placed once, the eight masks are applied and
scored with numpy, and only the winner's format bits are written by ``qrcode``: the same
choice, the same symbol (tests/services/posters/test_qr.py compares them), in a quarter of the
time. It leans on qrcode's ``best_fit``, ``makeImpl``, ``setup_type_info`` and ``map_data``: the
same test catches a change when qrcode is upgraded.

Error correction is level M (15% of the symbol may be lost): posters get scuffed, folded and
photographed at an angle, and for a ~75-character URL level M still fits version 5 (37 x 37
modules), whose modules stay over 2 mm wide in a 9 cm code.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import qrcode
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from qrcode.constants import ERROR_CORRECT_M
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

BoolMatrix = NDArray[np.bool_]

ERROR_CORRECTION = ERROR_CORRECT_M
QUIET_ZONE = 4  # modules of light margin the standard asks for around the symbol
PNG_BOX = 10  # pixels per module: a 450-pixel PNG, sharp when pasted into a document
SVG_BOX = 20  # tenths of a millimetre per module: a version-5 code is 9 cm wide, as on posters


class _LayoutProbe(qrcode.QRCode):
    """Records which modules are still empty before the format bits and before the data go in."""

    empty_before_info: BoolMatrix
    empty_before_data: BoolMatrix

    def setup_type_info(self, test: bool, mask_pattern: int) -> None:
        self.empty_before_info = self._empty()
        super().setup_type_info(test, mask_pattern)

    def map_data(self, data: list[int], mask_pattern: int) -> None:
        self.empty_before_data = self._empty()
        super().map_data(data, mask_pattern)

    def _empty(self) -> BoolMatrix:
        return np.array([[m is None for m in row] for row in self.modules])


@cache
def _regions(version: int, error_correction: int) -> tuple[BoolMatrix, BoolMatrix]:
    """The modules that carry data, and those that carry format and version information."""
    probe = _LayoutProbe(version=version, error_correction=error_correction)
    probe.add_data("")
    probe.makeImpl(True, 0)
    data = probe.empty_before_data
    info = probe.empty_before_info & ~data
    data.flags.writeable = info.flags.writeable = False
    return data, info


@cache
def _masks(size: int) -> BoolMatrix:
    """The eight mask patterns of ISO/IEC 18004 (i = row, j = column), as in qrcode.util."""
    i, j = np.indices((size, size))
    masks = np.stack(
        (
            (i + j) % 2 == 0,
            i % 2 == 0,
            j % 3 == 0,
            (i + j) % 3 == 0,
            (i // 2 + j // 3) % 2 == 0,
            (i * j) % 2 + (i * j) % 3 == 0,
            ((i * j) % 2 + (i * j) % 3) % 2 == 0,
            ((i * j) % 3 + (i + j) % 2) % 2 == 0,
        )
    )
    masks.flags.writeable = False
    return masks


_FINDER_LIKE = np.array(
    [
        [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1],
    ],
    dtype=bool,
)


def _runs_penalty(stack: BoolMatrix) -> NDArray[np.int64]:
    """Rule 1 along the rows of each matrix: every run of 5 + k modules of one colour costs
    3 + k."""
    count, size, _ = stack.shape
    # A separator after each row ends the row's last run; its own runs are 1 long.
    padded = np.full((count, size, size + 1), 2, dtype=np.int8)
    padded[:, :, :size] = stack
    flat = padded.ravel()
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    lengths = np.diff(np.append(starts, flat.size))
    long_runs = lengths >= 5
    owner = starts[long_runs] // (size * (size + 1))
    cost = np.bincount(owner, weights=lengths[long_runs] - 2, minlength=count)
    return cost.astype(np.int64)


def _finder_penalty(stack: BoolMatrix) -> NDArray[np.int64]:
    """Rule 3 along rows: 40 for each 1:1:3:1:1 pattern with four light modules beside it."""
    windows = sliding_window_view(stack, 11, axis=2)[:, :, :, None, :]
    hits = (windows == _FINDER_LIKE).all(axis=4)
    return 40 * hits.sum(axis=(1, 2, 3))


def penalties(stack: BoolMatrix) -> list[int]:
    """The mask penalty of each matrix of ``stack`` (count x size x size) exactly as
    ``qrcode.util.lost_point`` scores it (rules 1-4)."""
    size = stack.shape[1]
    transposed = stack.transpose(0, 2, 1)
    scores = _runs_penalty(stack) + _runs_penalty(transposed)
    top_left = stack[:, :-1, :-1]
    blocks = (top_left == stack[:, 1:, :-1]) & (top_left == stack[:, :-1, 1:])
    scores += 3 * (blocks & (top_left == stack[:, 1:, 1:])).sum(axis=(1, 2))
    scores += _finder_penalty(stack) + _finder_penalty(transposed)
    result = []
    for score, dark in zip(scores.tolist(), stack.sum(axis=(1, 2)).tolist(), strict=True):
        percent = float(dark) / (size**2)
        result.append(score + int(abs(percent * 100 - 50) / 5) * 10)
    return result


def make_qr(data: str, box_size: int = PNG_BOX) -> qrcode.QRCode:
    """The QR code of ``data``, built with the mask ``qrcode`` itself would choose."""
    code: qrcode.QRCode = qrcode.QRCode(
        error_correction=ERROR_CORRECTION, border=QUIET_ZONE, box_size=box_size
    )
    code.add_data(data)
    code.best_fit()
    code.makeImpl(False, 0)  # the one placement of the data, under mask 0
    symbol = np.array(code.modules, dtype=bool)
    data_region, info_region = _regions(code.version, code.error_correction)
    masks = _masks(symbol.shape[0]) & data_region
    unmasked = symbol ^ masks[0]
    # qrcode scores the masks on "test" symbols whose format and version bits are all light.
    scores = penalties((unmasked & ~info_region)[None] ^ masks)
    best = scores.index(min(scores))
    if best:
        code.modules = (unmasked ^ masks[best]).tolist()
        code.setup_type_info(False, best)
    return code


def qr_matrix(data: str) -> list[list[bool]]:
    """Dark (True) and light modules of the symbol, without the quiet zone."""
    return [[bool(m) for m in row] for row in make_qr(data).modules]


def qr_png(data: str) -> bytes:
    buffer = io.BytesIO()
    make_qr(data).make_image(image_factory=PilImage).save(buffer)
    return buffer.getvalue()


def qr_svg(data: str) -> bytes:
    """A standalone SVG: one path, sized in millimetres (one module = 2 mm)."""
    buffer = io.BytesIO()
    make_qr(data, SVG_BOX).make_image(image_factory=SvgPathImage).save(buffer)
    return buffer.getvalue()
