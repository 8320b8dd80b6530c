"""Time one PDF of QR posters for a whole round, as ``flask posters`` writes it.

    python benchmarks/posters_bench.py [--desks 1000] [--runs 3] [--size A4]

The round: 100 units (communes, districts, departments; long Vietnamese names), each with
``desks / 100`` desks serving two to four of 20 service areas, all in one open round, on a
fresh migrated SQLite database. Timed: ``flask posters --round ID --out FILE`` through Click's
test runner (loading the desks, one QR code per desk, drawing and writing the PDF), median of
``--runs``. Then one more run under tracemalloc for the peak of memory allocated, and the
process's peak resident size. Prints seconds, pages, PDF size, memory and the machine.
Target: seconds, not minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask_migrate import upgrade
from machine import describe

from survey import create_app
from survey.extensions import db
from survey.models import Desk, RoundState, ServiceArea, Unit, UnitLevel, utcnow
from survey.services.questionnaires.templates import latest_version, load_starter_templates
from survey.services.rounds.lifecycle import create_round, transition_round

UNITS = 100
KINDS = (
    ("xa", "Ủy ban nhân dân xã", ("Phú Lộc", "Tân Thành", "Hòa Bình", "Đồng Xuân", "Quảng Điền")),
    ("phuong", "Ủy ban nhân dân phường", ("Bình Minh", "Hưng Lợi", "Xuân Khánh", "An Hòa")),
    ("so", "Sở", ("Tư pháp", "Xây dựng", "Tài chính", "Nông nghiệp và Môi trường", "Y tế")),
)
AREAS = (
    "Hộ tịch", "Chứng thực", "Đất đai", "Xây dựng", "Đăng ký kinh doanh", "Đầu tư",
    "Lao động – Thương binh", "Bảo trợ xã hội", "Giáo dục", "Y tế", "Tư pháp", "Tài nguyên nước",
    "Môi trường", "Giao thông", "Công thương", "Nông nghiệp", "Văn hóa", "Thông tin",
    "Khoa học", "Nội vụ",
)  # fmt: skip


def build_round(desks: int) -> int:
    """A province of ``UNITS`` units with ``desks`` desks in all, and an open round over it."""
    now = utcnow()
    level = UnitLevel(code="commune", name="Cấp xã", name_en="Commune")
    db.session.add(level)
    areas = [ServiceArea(code=f"A{i:02d}", name=name) for i, name in enumerate(AREAS)]
    db.session.add_all(areas)
    units = []
    for i in range(UNITS):
        code, prefix, names = KINDS[i % len(KINDS)]
        unit = Unit(
            code=f"{code.upper()}{i:03d}",
            name=f"{prefix} {names[i % len(names)]} {i // len(KINDS) + 1}",
            level=level,
        )
        unit.service_areas = [areas[(i + k) % len(areas)] for k in range(2 + i % 3)]
        units.append(unit)
    db.session.add_all(units)
    for n in range(desks):
        unit = units[n % UNITS]
        desk = Desk(
            unit=unit, code=f"{unit.code}-Q{n // UNITS + 1}", name=f"Quầy số {n // UNITS + 1}"
        )
        desk.service_areas = unit.service_areas[: 1 + n % 2]
        db.session.add(desk)
    db.session.flush()
    load_starter_templates(now=now)
    version = latest_version("sipas")
    if version is None:
        raise SystemExit("the starter questionnaire did not load")
    round_ = create_round(
        name="Khảo sát sự hài lòng năm 2026",
        version=version,
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=60),
        units=[(unit, 100) for unit in units],
        now=now,
    )
    transition_round(round_, RoundState.OPEN, now=now)
    db.session.commit()
    return round_.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", choices=("A4", "A5"), default="A4")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "PUBLIC_BASE_URL": "https://dichvucong.example.gov.vn/hailong",
            }
        )
        with app.app_context():
            upgrade()
            round_id = build_round(args.desks)
            db.session.remove()
        out = Path(tmp) / "posters.pdf"
        command = ["posters", "--round", str(round_id), "--size", args.size, "--out", str(out)]
        runner = app.test_cli_runner()

        def run() -> None:
            result = runner.invoke(args=command)
            if result.exit_code != 0:
                raise SystemExit(f"flask posters failed: {result.output}")

        times, cpu = [], []
        for _ in range(args.runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            run()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

        from pypdf import PdfReader

        pages = len(PdfReader(out).pages)
        seconds = statistics.median(times)
        print(f"flask posters: {args.desks} desks, {args.size}, {pages} pages")
        print(
            f"seconds: median {seconds:.2f} of {args.runs} ({', '.join(f'{t:.2f}' for t in times)})"
            f"; {seconds / pages * 1000:.1f} ms a page"
        )
        # Wall time depends on what else the machine runs; CPU time much less so.
        print(f"CPU seconds: median {statistics.median(cpu):.2f}")
        print(f"PDF size: {out.stat().st_size / 1024 / 1024:.2f} MiB")
        print(
            f"memory: {peak / 2**20:.0f} MiB peak allocated (tracemalloc), {rss:.0f} MiB peak RSS"
        )
        print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
        print(f"machine: {describe()}")


if __name__ == "__main__":
    main()
