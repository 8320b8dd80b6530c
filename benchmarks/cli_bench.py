"""Time ``python -m analysis estimate`` against R's survey package on the same spec and CSV.

    python benchmarks/cli_bench.py [--responses 100000] [--runs 5] [--index 1000000] [--keep DIR]

The file: a round of ``--responses`` SIPAS answers (22 criteria and the overall question, 1-5,
5% blank), 40 units x 12 service areas, stratified by unit x area cell with the cell's dossier
count as the finite-population correction and N/n as the weight (the application's design). The
spec asks for what an analyst asks of such a file: the overall top-2-box proportion (Korn-Graubard)
for the province and by unit, the mean overall score by unit and by area, a criterion's
proportion by area (logit interval), a total and a ratio. The R script is the same estimates with
``svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N)``, ``svyciprop``, ``svyby``,
``svymean``, ``svytotal`` and ``svyratio`` (a lonely PSU adjusted, as ``survey.lonely.psu =
"adjust"``, for small files), reading the same CSV and writing its numbers, which are
compared with the command's (largest relative difference).

Both are timed as whole processes (start-up, imports, reading the CSV, estimating, output),
alternating, ``--runs`` times each in one run; the medians and their ratio are printed with the
machine and the load. ``--index`` also times the CPU (``time.process_time``) of the full
satisfaction index table (every level, both measures) of that many responses, as
benchmarks/analysis_bench.py builds them, in a fresh process with OpenBLAS's default threads and
with one BLAS thread. Targets (issue 21): the command at least 10 times faster
than R at 100,000 responses; the index table of 1,000,000 within 5 s of CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

ROOT = Path(__file__).resolve().parent.parent

UNITS, AREAS = 40, 12
ITEMS = [f"{e}{i + 1}" for e, k in {"TC": 4, "TT": 5, "CC": 6, "KQ": 3, "GY": 4}.items()
         for i in range(k)] + ["HL"]  # fmt: skip


def write_round(folder: Path, n: int, seed: int = 2026) -> Path:
    """The CSV and SPEC.json of a round of ``n`` responses; the spec's path."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 0.8, UNITS)
    unit = rng.choice(UNITS, size=n, p=size / size.sum())
    area = rng.integers(0, AREAS, n)
    cell = unit * AREAS + area
    latent = (
        3.9
        + rng.normal(0, 0.35, UNITS)[unit]
        + rng.normal(0, 0.25, AREAS)[area]
        + rng.normal(0, 0.5, n)
    )
    answers = np.clip(
        np.rint(
            latent[:, None] + rng.normal(0, 0.2, len(ITEMS)) + rng.normal(0, 0.7, (n, len(ITEMS)))
        ),
        1,
        5,
    )
    answers[rng.random(answers.shape) < 0.05] = np.nan
    taken = np.bincount(cell, minlength=UNITS * AREAS)
    dossiers = np.ceil(taken / rng.uniform(1 / 30, 1 / 3, UNITS * AREAS)).astype(int)
    dossiers = np.maximum(dossiers, taken + 1)
    unit_codes = np.array([f"U{u:02d}" for u in range(UNITS)])
    area_codes = np.array([f"LV{a:02d}" for a in range(AREAS)])
    with (folder / "responses.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["response_id", "unit", "area", "cell", "w", "N", *ITEMS])
        weight = dossiers / np.maximum(taken, 1)
        for i in range(n):
            writer.writerow(
                [
                    i + 1,
                    unit_codes[unit[i]],
                    area_codes[area[i]],
                    f"{unit_codes[unit[i]]}:{area_codes[area[i]]}",
                    repr(float(weight[cell[i]])),
                    int(dossiers[cell[i]]),
                    *("NA" if v != v else int(v) for v in answers[i].tolist()),
                ]
            )
    top2 = [4, 5]
    spec = {
        "data": "responses.csv",
        "design": {
            "ids": [], "strata": "cell", "weights": "w", "fpc": ["N"], "lonely_psu": "adjust"
        },
        "estimates": [
            {"id": "hl", "statistic": "proportion", "variable": "HL", "success": top2},
            {"id": "hl_unit", "statistic": "proportion", "variable": "HL", "success": top2,
             "by": ["unit"]},
            {"id": "score_unit", "statistic": "mean", "variable": "HL", "by": ["unit"]},
            {"id": "score_area", "statistic": "mean", "variable": "HL", "by": ["area"]},
            {"id": "tt1_area", "statistic": "proportion", "variable": "TT1", "success": top2,
             "ci": "logit", "by": ["area"]},
            {"id": "satisfied", "statistic": "total", "variable": "HL", "success": top2},
            {"id": "kq_over_tc", "statistic": "ratio", "numerator": "KQ1", "denominator": "TC1"},
        ],
    }  # fmt: skip
    path = folder / "SPEC.json"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return path


R_SCRIPT = r"""
suppressMessages(library(survey))
options(survey.lonely.psu = "adjust")
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
des <- svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N, data = d)
rows <- list()
add <- function(id, domain, est, se, lo, hi) {
  rows[[length(rows) + 1]] <<- data.frame(id = id, domain = domain, est = est, se = se,
                                          lo = lo, hi = hi)
}
hl <- subset(des, !is.na(HL))
p <- svyciprop(~I(HL >= 4), hl, method = "beta")
ci <- confint(p)
add("hl", "", as.vector(p), sqrt(as.vector(attr(p, "var"))), ci[1], ci[2])
r <- svyby(~I(HL >= 4), ~unit, hl, svyciprop, method = "beta", vartype = c("se", "ci"))
add("hl_unit", r$unit, r[[2]], r[[3]], r$ci_l, r$ci_u)
for (by in c("unit", "area")) {
  r <- svyby(~HL, as.formula(paste0("~", by)), hl, svymean)
  df <- sapply(r[[by]], function(g) degf(subset(hl, hl$variables[[by]] == g)))
  t <- qt(0.975, df)
  add(paste0("score_", by), r[[by]], r$HL, r$se, r$HL - t * r$se, r$HL + t * r$se)
}
tt1 <- subset(des, !is.na(TT1))
r <- svyby(~I(TT1 >= 4), ~area, tt1, svyciprop, method = "logit", vartype = c("se", "ci"))
add("tt1_area", r$area, r[[2]], r[[3]], r$ci_l, r$ci_u)
s <- svytotal(~I(!is.na(HL) & HL >= 4), des)
t <- qt(0.975, degf(des))
add("satisfied", "", unname(coef(s)[2]), unname(SE(s)[2]), coef(s)[[2]] - t * SE(s)[[2]],
    coef(s)[[2]] + t * SE(s)[[2]])
both <- subset(des, !is.na(KQ1) & !is.na(TC1))
q <- svyratio(~KQ1, ~TC1, both)
t <- qt(0.975, degf(both))
add("kq_over_tc", "", c(coef(q)), c(SE(q)), c(coef(q)) - t * c(SE(q)), c(coef(q)) + t * c(SE(q)))
write.csv(do.call(rbind, rows), args[2], row.names = FALSE)
"""


# As installed, the package's bytecode is compiled once and reused (R's packages are compiled
# at installation too); PYTHONDONTWRITEBYTECODE in a development shell would time the compiler.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


# OpenBLAS starts one thread per core for each product; the index table makes thousands of
# small ones (a cell's cross-products), and on a busy 2-core machine the second thread mostly
# spins, so CPU time is given both ways. Set before numpy loads, in the child's environment.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    return time.perf_counter() - started


def compare(ours: Path, theirs: Path) -> tuple[int, dict[str, float]]:
    """How many numbers were compared, and the largest relative difference of each."""
    rows = json.loads(ours.read_text(encoding="utf-8"))["estimates"]
    mine = {}
    for row in rows:
        domain = "" if row["domain"] is None else str(next(iter(row["domain"].values())))
        ci = row["ci"]
        mine[row["id"], domain] = (row["estimate"], row["se"], ci["lower"], ci["upper"])
    worst = dict.fromkeys(("est", "se", "lo", "hi"), 0.0)
    compared = 0
    with theirs.open(encoding="utf-8") as f:
        for line in csv.DictReader(f):
            values = mine[line["id"], line["domain"]]
            for name, value in zip(worst, values, strict=True):
                expected = float(line[name])
                gap = abs(value - expected) / abs(expected) if expected else abs(value)
                worst[name] = max(worst[name], gap)
            compared += 1
    return compared, worst


def index_table_cpu(n: int) -> tuple[float, float, int]:
    """CPU seconds of the full index table of ``n`` responses (coding, weights, table), the
    wall seconds, and the number of rows."""
    from analysis_bench import make_round, template

    from analysis.satisfaction import Responses, index_table, weights_from_dossiers

    columns, dossiers = make_round(n)
    cpu, wall = time.process_time(), time.perf_counter()
    responses = Responses.build(
        template(),
        response_id=columns["response_id"],
        unit=columns["unit"],
        area=columns["area"],
        desk=columns["desk"],
        answers=columns["answers"],
    )
    table = index_table(responses, template(), weights_from_dossiers(responses, dossiers))
    return time.process_time() - cpu, time.perf_counter() - wall, len(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating")
    parser.add_argument("--index", type=int, default=1_000_000, help="0: skip the index table")
    parser.add_argument("--keep", type=Path, help="write the spec and CSV here and keep them")
    parser.add_argument("--index-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.index_child:
        # In a process of its own, so that the BLAS thread count can be set before numpy loads.
        print(json.dumps(index_table_cpu(args.index_child)))
        return 0
    print(f"machine: {describe()}")
    # Other work on the machine slows every figure below; the load says how much there was.
    print(f"load average before the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    folder = args.keep or Path(tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    spec = write_round(folder, args.responses)
    size = (folder / "responses.csv").stat().st_size / 1024**2
    print(
        f"file: {args.responses:,} responses x {len(ITEMS)} items, {UNITS} units x {AREAS} "
        f"areas ({size:.1f} MB); spec: {spec}"
    )
    ours = [sys.executable, "-m", "analysis", "estimate", str(spec)]
    with (folder / "ours.json").open("w", encoding="utf-8") as out:
        subprocess.run(ours, check=True, stdout=out, cwd=ROOT, env=ENV)
    if shutil.which("Rscript") is None:
        print("R is not installed here (Rscript not on PATH): only the command is timed")
        r_command = None
    else:
        (folder / "bench.R").write_text(R_SCRIPT, encoding="utf-8")
        r_command = [
            "Rscript", str(folder / "bench.R"), str(folder / "responses.csv"), str(folder / "r.csv")
        ]  # fmt: skip
        subprocess.run(r_command, check=True, cwd=ROOT)
        compared, worst = compare(folder / "ours.json", folder / "r.csv")
        print(
            f"same numbers as R over {compared} estimates: largest relative difference "
            + ", ".join(f"{name} {value:.1e}" for name, value in worst.items())
        )
    mine, theirs = [], []
    for _run in range(args.runs):
        mine.append(_timed(ours))
        if r_command is not None:
            theirs.append(_timed(r_command))
    print(
        f"python -m analysis estimate: {statistics.median(mine):.3f} s "
        f"(median of {args.runs}: {', '.join(f'{t:.2f}' for t in mine)})"
    )
    if theirs:
        print(
            f"Rscript (survey {_r_survey_version()}): {statistics.median(theirs):.3f} s "
            f"(median of {args.runs}: {', '.join(f'{t:.2f}' for t in theirs)})"
        )
        print(f"ratio R / command: {statistics.median(theirs) / statistics.median(mine):.1f}x")
    if args.index > 0:
        for threads, env in (("default BLAS threads", {}), ("one BLAS thread", ONE_THREAD)):
            done = subprocess.run(
                [sys.executable, __file__, "--index-child", str(args.index)],
                check=True,
                capture_output=True,
                text=True,
                env={**ENV, **env},
            )
            cpu, wall, rows = json.loads(done.stdout)
            print(
                f"full index table of {args.index:,} responses ({rows:,} rows), {threads}: "
                f"{cpu:.2f} s of CPU ({wall:.2f} s wall)"
            )
    if args.keep is None:
        shutil.rmtree(folder)
    return 0


def _r_survey_version() -> str:
    done = subprocess.run(
        ["Rscript", "-e", "cat(format(packageVersion('survey')))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    raise SystemExit(main())
