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
    parser.add_argument("--r-sample", type=int, default=50_000)
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
    else:
        time_r(responses, template, weighting, sample=min(args.r_sample, args.responses))
    return 0


R_SCRIPT = """
suppressMessages(library(survey))
options(survey.lonely.psu = "remove")  # as the index table: a one-response cell adds nothing
d <- read.csv("{csv}")
items <- names(d)[grepl("^c_", names(d))]
start <- Sys.time()
des <- svydesign(ids=~1, strata=~cell, weights=~w, fpc=~N, data=d)
f <- as.formula(paste("~", paste(items, collapse="+")))
by_unit <- svyby(f, ~unit, des, svymean, na.rm.all=TRUE, keep.var=TRUE)
cat(as.numeric(difftime(Sys.time(), start, units="secs")), "\\n")
"""


def time_r(responses: Responses, template: TemplateSpec, weighting: object, sample: int) -> None:
    """R's svyby(svymean) of every criterion's top-2-box indicator by unit on a sample, and
    this library's unit-level criterion indices on the same sample, for the ratio."""
    import csv
    import subprocess
    import tempfile

    from analysis.satisfaction import Level, Measure

    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(len(responses.unit), size=sample, replace=False))
    small = Responses(responses.unit[pick], responses.area[pick], responses.answers[pick])
    cells = np.char.add(np.char.add(small.unit.astype(str), ":"), small.area.astype(str))
    big = {c: 10.0 * n for c, n in zip(*np.unique(cells, return_counts=True), strict=True)}
    small_weighting = weigh(small, big)
    satisfied = np.where(np.isnan(small.answers), np.nan, (small.answers >= 4).astype(float))
    folder = Path(tempfile.mkdtemp())
    with (folder / "d.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "cell", "w", "N"] + [f"c_{c.code}" for c in template.criteria])
        for i in range(sample):
            writer.writerow(
                [
                    small.unit[i],
                    small_weighting.cell[i],
                    small_weighting.weights[i],
                    small_weighting.population[i],
                ]
                + ["NA" if np.isnan(v) else int(v) for v in satisfied[i]]
            )
    (folder / "bench.R").write_text(R_SCRIPT.format(csv=folder / "d.csv"))
    done = subprocess.run(
        ["Rscript", str(folder / "bench.R")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"R failed: {done.stderr.strip()[:300]}")
        return
    r_seconds = float(done.stdout.split()[-1])
    started = time.perf_counter()
    index_table(small, template, small_weighting, levels=[Level.UNIT], measures=[Measure.TOP2BOX])
    ours = time.perf_counter() - started
    print(
        f"sample of {sample:,}: R survey svyby(svymean) of 22 criteria by unit {r_seconds:.1f} s; "
        f"this library (all unit indices with intervals) {ours:.2f} s; "
        f"ratio {r_seconds / ours:.0f}x"
    )


if __name__ == "__main__":
    raise SystemExit(main())
