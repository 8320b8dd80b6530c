"""The charts as a reader sees them: every mark where its number puts it on the axis, labels as
text, unreliable values hollow and hatched, hostile names harmless, and the PNG drawn from the
same shapes."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET

import pytest

from survey.services.results.charts import (
    Interval,
    bar_chart,
    blues,
    column_chart,
    figure_bytes,
    forest_chart,
    heat_map,
    nice_ticks,
    residual_chart,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def _svg(chart: object) -> ET.Element:
    return ET.fromstring(figure_bytes(chart, "svg"))  # type: ignore[arg-type]  # noqa: S314 (our own output)


def _texts(root: ET.Element) -> dict[str, ET.Element]:
    return {t.text or "": t for t in root.iterfind(".//s:text", NS)}


def _axis(root: ET.Element) -> tuple[float, float]:
    """Pixels per unit and the pixel of 0, read off two tick labels (0 and 100)."""
    texts = _texts(root)
    zero, hundred = float(texts["0"].get("x", "")), float(texts["100"].get("x", ""))
    return (hundred - zero) / 100, zero


ROWS = [
    Interval("Sở Tư pháp", 80.0, 75.0, 85.0),
    Interval("UBND xã Phú Lộc", 40.0, 20.0, 60.0, unreliable=True),
]


def test_a_forest_chart_puts_each_point_and_interval_at_its_value() -> None:
    root = _svg(
        forest_chart(
            ROWS, xlabel="Chỉ số", reference=90.0, reference_label="Mục tiêu 90%", limits=(0, 100)
        )
    )
    scale, zero = _axis(root)
    circles = root.findall(".//s:circle", NS)
    # coordinates are written to a tenth of a pixel: a twentieth of a point here
    assert [(float(c.get("cx", "")) - zero) / scale for c in circles] == pytest.approx(
        [80.0, 40.0], abs=0.05
    )
    # the first row above the second
    assert float(circles[0].get("cy", "")) < float(circles[1].get("cy", ""))
    # the unreliable one hollow and grey, the other filled
    assert circles[0].get("fill") == circles[0].get("stroke") != "#ffffff"
    assert circles[1].get("fill") == "#ffffff"
    lines = [
        (float(line.get("x1", "")), float(line.get("x2", "")))
        for line in root.iterfind(".//s:line", NS)
        if line.get("stroke-width") == "2.5"
    ]
    assert [((a - zero) / scale, (b - zero) / scale) for a, b in lines] == [
        pytest.approx((75.0, 85.0), abs=0.05),
        pytest.approx((20.0, 60.0), abs=0.05),
    ]
    target = [line for line in root.iterfind(".//s:line", NS) if line.get("stroke-dasharray")]
    assert (float(target[0].get("x1", "")) - zero) / scale == pytest.approx(90.0, abs=0.05)
    texts = _texts(root)
    for label in ("Sở Tư pháp", "UBND xã Phú Lộc", "Mục tiêu 90%", "Chỉ số"):
        assert label in texts  # text, not outlines: found, selected, read aloud


def test_a_bar_chart_runs_from_zero_to_the_estimate_and_hatches_the_unreliable() -> None:
    root = _svg(bar_chart(ROWS, xlabel="Chỉ số", limits=(0, 100)))
    scale, zero = _axis(root)
    bars = [r for r in root.iterfind(".//s:rect", NS) if r.get("stroke")]
    assert [float(b.get("x", "")) for b in bars] == pytest.approx([zero, zero])
    assert [float(b.get("width", "")) / scale for b in bars] == pytest.approx(
        [80.0, 40.0], abs=0.05
    )
    hatched = [r for r in root.iterfind(".//s:rect", NS) if r.get("fill") == "url(#hatch)"]
    assert len(hatched) == 1 and hatched[0].get("y") == bars[1].get("y")


def test_a_label_with_markup_is_text_not_markup() -> None:
    name = '<script>alert("x")</script> & Co'
    body = figure_bytes(forest_chart([Interval(name, 50, 40, 60)], xlabel="%"), "svg")
    root = ET.fromstring(body)  # noqa: S314 (our own output)
    assert b"<script" not in body
    assert root.find(".//s:script", NS) is None
    assert any((t.text or "").startswith('<script>alert("x")') for t in root.iter())


def test_long_labels_are_cut_with_an_ellipsis_and_leave_room_for_the_plot() -> None:
    long = "Trung tâm Phục vụ hành chính công tỉnh và các đơn vị trực thuộc khác"
    root = _svg(forest_chart([Interval(long, 50, 40, 60)], xlabel="%", limits=(0, 100)))
    label = next(t.text for t in root.iterfind(".//s:text", NS) if (t.text or "").startswith("Tr"))
    assert label is not None and label.endswith("…") and len(label) < len(long)
    _scale, zero = _axis(root)
    assert zero < 768 * 0.5  # the plot keeps at least half the width


def test_the_heat_map_darkens_with_the_value_and_marks_what_is_missing_or_weak() -> None:
    root = _svg(
        heat_map(
            ["Sở A", "Sở B"],
            ["A Tiếp cận", "B Thủ tục"],
            [[90.0, 20.0], [float("nan"), 55.0]],
            unreliable=[[False, False], [False, True]],
            colour_label="Chỉ số, %",
        )
    )
    texts = _texts(root)
    assert {"90.0", "20.0", "55.0"} <= set(texts)
    assert texts["90.0"].get("fill") == "#ffffff"  # light text on a dark cell
    assert texts["20.0"].get("fill") == "#000000"
    assert texts["55.0"].get("font-style") == "italic"

    def luminance(colour: str) -> int:
        return sum(int(colour[k : k + 2], 16) for k in (1, 3, 5))

    assert luminance(blues(0.9)) < luminance(blues(0.2))
    assert blues(0.0) == "#f7fbff" and blues(1.0) == "#08306b"
    assert len([r for r in root.iterfind(".//s:rect", NS) if r.get("fill") == "url(#hatch)"]) == 1
    empty = _svg(heat_map(["a"], ["b"], [[float("nan")]], unreliable=[[False]], colour_label="x"))
    assert "nan" not in _texts(empty)
    assert all("nan" not in value for e in empty.iter() for value in e.attrib.values())


def test_the_daily_columns_stack_and_the_scale_reaches_above_the_tallest() -> None:
    root = _svg(
        column_chart(
            ["01/12", "02/12"],
            [("Được tính", "#1f5f9c", [30, 47]), ("Bị loại", "#d9822b", [0, 3])],
            ylabel="Số phiếu",
        )
    )
    # the columns: wider than a legend's swatch, not the white background (which has no x)
    columns = [
        r for r in root.iterfind(".//s:rect", NS) if r.get("x") and float(r.get("width", "")) > 100
    ]
    heights = [float(r.get("height", "")) for r in columns]
    assert heights[0] / heights[1] == pytest.approx(30 / 47, abs=0.01)
    assert heights[2] / heights[1] == pytest.approx(3 / 47, abs=0.01)
    ticks = [int(t) for t in _texts(root) if t.isdigit()]
    assert max(ticks) >= 50


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-12.5, 7.3) == [-10, -5, 0, 5]
    assert nice_ticks(3.2, 4.6, 5) == pytest.approx([3.5, 4.0, 4.5])


def test_the_same_numbers_give_the_same_bytes_and_a_png_of_print_size() -> None:
    draw = lambda: forest_chart(ROWS, xlabel="x", limits=(0, 100))  # noqa: E731
    assert figure_bytes(draw(), "svg") == figure_bytes(draw(), "svg")
    png = figure_bytes(draw(), "png")
    assert png.startswith(b"\x89PNG")
    width, height = struct.unpack(">II", io.BytesIO(png).getbuffer()[16:24])
    assert width == 1200  # 8 inches at 150 dpi
    chart = draw()
    assert height == pytest.approx(chart.height / 96 * 150, abs=1)


def test_the_model_check_draws_one_point_per_unit_inside_the_band_when_small() -> None:
    root = _svg(
        residual_chart(
            [(70.0, 0.5), (80.0, -1.0), (75.0, 2.5)], xlabel="x", ylabel="y", band_label="±2"
        )
    )
    points = root.findall(".//s:circle", NS)
    assert len(points) == 3
    band = next(
        r for r in root.iterfind(".//s:rect", NS) if r.get("x") and float(r.get("height", "")) > 50
    )
    top, bottom = float(band.get("y", "")), float(band.get("y", "")) + float(band.get("height", ""))
    inside = [top <= float(p.get("cy", "")) <= bottom for p in points]
    assert inside == [True, True, False]
