"""Time the full index table of a realistic round.

    python benchmarks/analysis_bench.py [--responses 1000000]

1,000,000 responses, 22 criteria with 5% item non-response, 300 units, 20 service areas, 2,000
desks; every criterion, element and the overall index, as top-2-box and mean score, for the
province, each unit, each area and each unit x area cell. Prints seconds and peak memory, and
the machine. Target on 2 cores: under 10 s and 2 GB. R's survey is timed on a sample when
Rscript is installed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from analysis.satisfaction import CriterionSpec, Responses, TemplateSpec, index_table, weigh

ELEMENTS = {"A": 4, "B": 5, "C": 6, "D": 3, "E": 4}


def make_round(n: int, seed: int = 2026) -> tuple[Responses, TemplateSpec, dict[str, float]]:
    rng = np.random.default_rng(seed)
    units = np.array([f"U{u:03d}" for u in range(300)])
    areas = np.array([f"A{a:02d}" for a in range(20)])
    unit_of_desk = rng.integers(0, 300, size=2000)
    desk = rng.integers(0, 2000, size=n)
    unit_index = unit_of_desk[desk]
    # Each unit serves a handful of areas.
    area_index = (unit_index * 7 + rng.integers(0, 4, size=n)) % 20
    latent = rng.normal(0, 0.35, 300)[unit_index] + rng.normal(0, 0.25, 20)[area_index]
    criteria = [
        CriterionSpec(f"{e}{i + 1}", e, "HC") for e, k in ELEMENTS.items() for i in range(k)
    ]
    answers = np.clip(np.rint(3.9 + latent[:, None] + rng.normal(0, 0.8, (n, 22))), 1, 5)
    answers[rng.random((n, 22)) < 0.05] = np.nan
    cells = {
        f"{units[u]}:{areas[a]}"
        for u, a in zip(unit_index[:200000], area_index[:200000], strict=True)
    }
    cells |= {f"{units[u]}:{areas[a]}" for u, a in zip(unit_index, area_index, strict=True)}
    dossiers = {c: float(rng.integers(2000, 40000)) for c in cells}
    return (
        Responses(units[unit_index], areas[area_index], answers),
        TemplateSpec(tuple(criteria)),
        dossiers,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    args = parser.parse_args()
    responses, template, dossiers = make_round(args.responses)
    started = time.perf_counter()
    weighting = weigh(responses, dossiers)
    rows = index_table(responses, template, weighting)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"machine: {describe()}")
    print(f"responses: {args.responses:,}; cells: {len(dossiers):,}; index rows: {len(rows):,}")
    print(f"full index table: {seconds:.1f} s; peak memory of the process: {peak:.2f} GB")
    if shutil.which("Rscript") is None:
        print("R is not installed here (apt-get install r-cran-survey to time R on a sample)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
