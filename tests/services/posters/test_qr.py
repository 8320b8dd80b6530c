"""QR codes: the faster mask search must give exactly the symbol qrcode itself makes, and what
it makes must scan back to the link."""

from __future__ import annotations

import io
import random
import re
from xml.etree import ElementTree

import numpy as np
import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode import util

from survey.services.posters.qr import QUIET_ZONE, make_qr, penalties, qr_matrix, qr_png, qr_svg

TOKEN = "k3Jw0n-Ve8rQ1x_ZpL5aT2mB9cHd4fYs6uGi7oNe0Ak"


def _urls(count: int, seed: int) -> list[str]:
    """Desk links under base URLs from short to long (QR versions 5 to 13)."""
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return [
        "https://hailong.example.gov.vn"
        + "/cap-tinh" * rng.randrange(0, 25)
        + "/r/"
        + "".join(rng.choice(alphabet) for _ in range(43))
        for _ in range(count)
    ]


def test_same_symbol_as_qrcode_for_every_size_of_link() -> None:
    versions = set()
    for url in _urls(150, seed=4):
        reference = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        reference.add_data(url)
        reference.make()
        versions.add(reference.version)
        assert make_qr(url).modules == reference.modules, url
    # Versions 7 and up carry version bits as well as format bits: both must be covered.
    assert min(versions) <= 5 and max(versions) >= 8


def test_penalties_equal_qrcodes_lost_point_on_arbitrary_matrices() -> None:
    rng = np.random.default_rng(11)
    for size, density in [(21, 0.5), (25, 0.1), (37, 0.9), (45, 0.5), (57, 0.3)]:
        stack = rng.random((6, size, size)) < density
        # Long runs and finder-like patterns on purpose, beside the random ones.
        stack[0, 3, :] = True
        stack[1, :, 5] = False
        stack[2, 7, 0:11] = [1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0]
        expected = [util.lost_point(matrix.tolist()) for matrix in stack]
        assert penalties(stack) == expected


def test_png_scans_back_to_the_link() -> None:
    url = f"https://hailong.example.gov.vn/r/{TOKEN}"
    image = Image.open(io.BytesIO(qr_png(url)))
    assert image.format == "PNG"
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [url]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_svg_is_valid_svg_that_scans_back_to_the_link() -> None:
    url = f"https://hailong.example.gov.vn/r/{TOKEN}?a=1&b=<2>"
    root = ElementTree.fromstring(qr_svg(url))  # noqa: S314  (our own output)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    width = float(root.attrib["width"].removesuffix("mm"))
    assert width >= 50  # as large as on a poster
    assert root.attrib["viewBox"] == f"0 0 {width:g} {width:g}"
    (path,) = root
    # Paint the path's squares onto a bitmap and scan it, as a phone would scan the print.
    modules = len(qr_matrix(url)) + 2 * QUIET_ZONE
    scale = 4 * modules / width
    image = Image.new("L", (4 * modules, 4 * modules), 255)
    pixels = image.load()
    squares = re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H[\d.]+z", path.attrib["d"])
    assert squares
    for left, top, right, bottom in squares:
        for x in range(round(float(left) * scale), round(float(right) * scale)):
            for y in range(round(float(top) * scale), round(float(bottom) * scale)):
                pixels[x, y] = 0
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]


@pytest.mark.parametrize("text", ["", "x" * 2000])
def test_extreme_inputs_still_make_a_code(text: str) -> None:
    matrix = qr_matrix(text)
    assert len(matrix) >= 21 and all(len(row) == len(matrix) for row in matrix)
