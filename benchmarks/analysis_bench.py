"""Time the full satisfaction index table of a realistic round.

    python benchmarks/analysis_bench.py [--responses 1000000] [--runs 1] [--desks]
                                        [--chunks 10] [--r-sample 20000]

The round: 300 units of very different sizes, each serving 18 to 20 of 20 service areas
(about 5,800 unit x area cells), 2,000 desks spread over the units by size; 22 criteria of the
SIPAS questionnaire in 5 elements plus the overall question, answers 1-5 driven by unit, area,
desk and respondent effects, 5% of answers blank or not applicable. Dossier counts per cell are
3 to 30 times the responses; a few cells have no count and a few counts have no responses, as in
real imports.

Timed: coding the responses (``Responses.build``), the weights, and the full index table
(every criterion, element and overall index, top-2-box and mean score, with SE, interval, df,
n_eff, deff and flags) for the province, each unit, each area and each cell. ``--desks`` also
times desks as clusters and the desk level; ``--chunks`` the path that never holds more than
one chunk of responses: statistics per chunk of units, merged, then the table from the
statistics. Prints seconds (median of ``--runs``), the peak of memory allocated during the run
(tracemalloc) and of the whole process (ru_maxrss), the load average and the machine. Target
on 2 cores: under 10 s and 2 GB.

When Rscript with the survey package is on PATH, R's svyciprop (Korn-Graubard) of every
criterion by unit is timed on a sample of ``--r-sample`` responses and compared, number by
number, with this library's on the same sample.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from analysis.satisfaction import (
    PSU,
    IndexTable,
    Level,
    Responses,
    TemplateSpec,
    cell_stats,
    index_table,
    index_table_from_stats,
    merge_stats,
    weights_from_dossiers,
)

ELEMENTS = {"TC": 4, "TT": 5, "CC": 6, "KQ": 3, "GY": 4}  # the 22 SIPAS criteria
UNITS, AREAS, DESKS = 300, 20, 2000


def template() -> TemplateSpec:
    tree = {"HC": {e: [f"{e}{i + 1}" for i in range(k)] for e, k in ELEMENTS.items()}}
    return TemplateSpec.from_tree(tree, overall="HL")


def make_round(
    n: int, seed: int = 2026
) -> tuple[dict[str, np.ndarray], dict[tuple[str, str], float]]:
    """Columns of a round (ids, unit, area, desk, answers) and the dossier counts per cell."""
    rng = np.random.default_rng(seed)
    size = rng.lognormal(0, 1.0, UNITS)
    unit = rng.choice(UNITS, size=n, p=size / size.sum())
    desks = np.maximum(1, np.round(size / size.sum() * (DESKS - UNITS))).astype(int)
    desks[np.argmax(desks)] += DESKS - desks.sum()  # exactly DESKS desks
    first_desk = np.r_[0, np.cumsum(desks)[:-1]]
    desk = first_desk[unit] + (rng.random(n) * desks[unit]).astype(int)
    # Each unit serves 18-20 areas, some much busier than others.
    popularity = rng.dirichlet(np.full(AREAS, 2.0), size=UNITS)
    for u in range(UNITS):
        popularity[u, rng.choice(AREAS, size=rng.integers(0, 3), replace=False)] = 0
    popularity /= popularity.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(popularity, axis=1)
    area = np.minimum((cumulative[unit] < rng.random(n)[:, None]).sum(axis=1), AREAS - 1)
    k = sum(ELEMENTS.values()) + 1
    latent = (
        3.9
        + rng.normal(0, 0.35, UNITS)[unit]
        + rng.normal(0, 0.25, AREAS)[area]
        + rng.normal(0, 0.15, DESKS)[desk]
        + rng.normal(0, 0.5, n)  # the respondent's general mood links the criteria
    )
    answers = np.empty((n, k))
    item_shift = rng.normal(0, 0.2, k)
    for j in range(k):
        answers[:, j] = np.clip(np.rint(latent + item_shift[j] + rng.normal(0, 0.7, n)), 1, 5)
    answers[rng.random((n, k)) < 0.05] = np.nan
    unit_codes = np.array([f"U{u:03d}" for u in range(UNITS)])
    area_codes = np.array([f"LV{a:02d}" for a in range(AREAS)])
    desk_codes = np.array([f"Q{d:04d}" for d in range(DESKS)])
    cells, counts = np.unique(unit * AREAS + area, return_counts=True)
    rate = rng.uniform(1 / 30, 1 / 3, len(cells))
    dossiers = {
        (str(unit_codes[c // AREAS]), str(area_codes[c % AREAS])): float(np.ceil(m / r))
        for c, m, r in zip(cells, counts, rate, strict=True)
    }
    for key in list(dossiers)[:: max(1, len(dossiers) // 20)]:
        del dossiers[key]  # a few cells the one-stop software did not export
    for u in range(0, UNITS, 30):
        dossiers.setdefault((str(unit_codes[u]), "LV99"), 120.0)  # counts nobody answered in
    columns = {
        "response_id": np.arange(1, n + 1, dtype=np.int64),
        "unit": unit_codes[unit],
        "area": area_codes[area],
        "desk": desk_codes[desk],
        "answers": answers,
    }
    return columns, dossiers


def run(
    columns: dict[str, np.ndarray],
    dossiers: dict[tuple[str, str], float],
    *,
    psu: PSU = PSU.RESPONSE,
    levels: tuple[Level, ...] = (Level.PROVINCE, Level.UNIT, Level.AREA, Level.CELL),
) -> tuple[IndexTable, float, float]:
    """One timed run: seconds and peak traced memory in GB."""
    tracemalloc.start()
    started = time.perf_counter()
    responses = Responses.build(
        template(),
        response_id=columns["response_id"],
        unit=columns["unit"],
        area=columns["area"],
        desk=columns["desk"],
        answers=columns["answers"],
    )
    weighting = weights_from_dossiers(responses, dossiers)
    table = index_table(responses, template(), weighting, psu=psu, levels=levels)
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return table, seconds, peak / 1024**3


def run_in_chunks(
    columns: dict[str, np.ndarray], dossiers: dict[tuple[str, str], float], chunks: int
) -> tuple[IndexTable, float, float]:
    """The same table from sufficient statistics computed chunk by chunk (groups of whole
    units, as a reader of the database would fetch them): only one chunk of coded responses
    and the per-cell statistics are in memory at a time."""
    tracemalloc.start()
    started = time.perf_counter()
    units = np.unique(columns["unit"])
    parts = []
    for group in np.array_split(units, chunks):
        rows = np.isin(columns["unit"], group)
        chunk = Responses.build(
            template(),
            response_id=columns["response_id"][rows],
            unit=columns["unit"][rows],
            area=columns["area"][rows],
            answers=columns["answers"][rows],
        )
        parts.append(cell_stats(chunk, template()))
        del chunk
    stats = merge_stats(parts)
    weighting = weights_from_dossiers(stats.cell_counts(), dossiers)
    table = index_table_from_stats(stats, template(), weighting)
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return table, seconds, peak / 1024**3


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="report the median of this many")
    parser.add_argument("--desks", action="store_true", help="also desks as PSUs and desk level")
    parser.add_argument("--chunks", type=int, default=0, help="also time the chunked path")
    parser.add_argument("--r-sample", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine: {describe()}")
    # Other work on the machine slows every figure below; the load says how much there was.
    print(f"load average before the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    columns, dossiers = make_round(args.responses)
    cells = len({(u, a) for u, a in zip(columns["unit"], columns["area"], strict=True)})
    print(
        f"round: {args.responses:,} responses x {columns['answers'].shape[1]} items "
        f"(22 criteria + overall question), {UNITS} units, {AREAS} areas, {cells:,} cells, "
        f"{len(set(columns['desk'].tolist())):,} desks"
    )
    timings, peaks = [], []
    table = None
    for _run in range(args.runs):
        table, seconds, peak = run(columns, dossiers)
        timings.append(seconds)
        peaks.append(peak)
    assert table is not None  # noqa: S101
    diag = table.weighting.diagnostics
    print(
        f"index table (province, units, areas, cells; top-2-box and mean; {len(table):,} rows): "
        f"{statistics.median(timings):.2f} s (median of {args.runs}: "
        f"{', '.join(f'{t:.2f}' for t in timings)}); peak allocated {max(peaks):.2f} GB"
    )
    print(
        f"weighting: {diag.responses_excluded:,} responses without a dossier count excluded, "
        f"{len(diag.issues)} cell issues reported, coverage {diag.coverage:.1%}"
    )
    if args.desks:
        _table, seconds, peak = run(
            columns,
            dossiers,
            psu=PSU.DESK,
            levels=(Level.PROVINCE, Level.UNIT, Level.AREA, Level.CELL, Level.DESK),
        )
        print(
            f"with desks as PSUs and the desk level ({len(_table):,} rows): {seconds:.2f} s; "
            f"peak allocated {peak:.2f} GB"
        )
    if args.chunks > 0:
        chunked, seconds, peak = run_in_chunks(columns, dossiers, args.chunks)
        same = np.allclose(chunked.se, table.se, equal_nan=True, rtol=1e-9)
        print(
            f"from statistics of {args.chunks} chunks of units: {seconds:.2f} s; peak allocated "
            f"{peak:.2f} GB (a chunk and the statistics); same SEs as in one piece: {same}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak resident memory of the whole process (data generation included): {rss:.2f} GB")
    if shutil.which("Rscript") is None:
        print("R is not installed here (Rscript not on PATH): R's survey package not timed")
    else:
        compare_with_r(columns, dossiers, min(args.r_sample, args.responses))
    return 0


R_SCRIPT = """
suppressMessages(library(survey))
options(survey.lonely.psu = "adjust")
d <- read.csv("{csv}")
items <- grep("^s_", names(d), value = TRUE)
start <- Sys.time()
des <- svydesign(ids = ~1, strata = ~cell, weights = ~w, fpc = ~N, data = d)
out <- list()
for (item in items) {{
  sub <- subset(des, !is.na(d[[item]]))
  f <- as.formula(paste0("~", item))
  r <- svyby(f, ~unit, sub, svyciprop, method = "beta", vartype = c("se", "ci"))
  out[[item]] <- data.frame(item = sub("^s_", "", item), unit = r$unit, est = r[[item]],
                            se = r[[paste0("se.as.numeric(", item, ")")]], lo = r$ci_l, hi = r$ci_u)
}}
seconds <- as.numeric(difftime(Sys.time(), start, units = "secs"))
write.csv(do.call(rbind, out), "{out}", row.names = FALSE)
cat(seconds, "\\n")
"""


def compare_with_r(
    columns: dict[str, np.ndarray], dossiers: dict[tuple[str, str], float], sample: int
) -> None:
    """R's svyby(svyciprop, method = "beta") of every criterion by unit on a sample, timed, and
    the largest relative difference from this library's unit-level criterion rows."""
    rng = np.random.default_rng(1)
    pick = np.sort(rng.choice(len(columns["unit"]), size=sample, replace=False))
    small = {name: values[pick] for name, values in columns.items()}
    responses = Responses.build(
        template(),
        response_id=small["response_id"],
        unit=small["unit"],
        area=small["area"],
        answers=small["answers"],
    )
    # Dossier counts scaled to the sample, so that the finite-population correction matters.
    ratio = sample / len(columns["unit"])
    frame = {key: max(1.0, round(value * ratio * 10)) for key, value in dossiers.items()}
    weighting = weights_from_dossiers(responses, frame)
    started = time.perf_counter()
    ours = index_table(responses, template(), weighting, levels=[Level.UNIT], measures=["top2box"])
    our_seconds = time.perf_counter() - started
    lookup = weighting.index()
    keys = list(zip(small["unit"].tolist(), small["area"].tolist(), strict=True))
    folder = Path(tempfile.mkdtemp())
    codes = template().codes
    kept = [i for i, key in enumerate(keys) if weighting.weight[lookup[key]] > 0]
    with (folder / "d.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "cell", "w", "N"] + [f"s_{c}" for c in codes])
        for i in kept:
            h = lookup[keys[i]]
            row = small["answers"][i]
            writer.writerow(
                [
                    keys[i][0],
                    f"{keys[i][0]}:{keys[i][1]}",
                    repr(float(weighting.weight[h])),
                    repr(float(weighting.fpc[h])) if np.isfinite(weighting.fpc[h]) else "",
                ]
                + ["NA" if np.isnan(v) else int(v >= 4) for v in row]
            )
    if any(not np.isfinite(weighting.fpc[lookup[keys[i]]]) for i in kept):
        print("R comparison skipped: some cells have fewer dossiers than responses")
        return
    (folder / "bench.R").write_text(
        R_SCRIPT.format(csv=folder / "d.csv", out=folder / "r.csv"), encoding="utf-8"
    )
    done = subprocess.run(
        ["Rscript", str(folder / "bench.R")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"R failed: {done.stderr.strip()[-400:]}")
        return
    r_seconds = float(done.stdout.split()[-1])
    worst = {"est": 0.0, "se": 0.0, "lo": 0.0, "hi": 0.0}
    compared = undefined = 0
    with (folder / "r.csv").open(encoding="utf-8") as f:
        for line in csv.DictReader(f):
            row = ours.find(Level.UNIT, unit=line["unit"], index=line["item"], measure="top2box")
            mine = {
                "est": row.estimate / 100,
                "se": row.se / 100,
                "lo": row.ci_low / 100,
                "hi": row.ci_high / 100,
            }
            if "NA" in line.values() or not 0 < float(line["est"]) < 1 or float(line["se"]) == 0:
                # R has no interval at p = 0 or 1 or with zero SE (a unit whose every cell was
                # answered by all its dossiers); this library's rules there are its own.
                undefined += 1
                continue
            for name, value in mine.items():
                theirs = float(line[name])
                gap = abs(value - theirs) / abs(theirs) if theirs else abs(value)
                worst[name] = max(worst[name], gap)
            compared += 1
    print(
        f"R survey on a sample of {sample:,} ({len(kept):,} weighted): "
        f"svyby(svyciprop, beta) of {len(codes)} items by unit {r_seconds:.1f} s; this library, "
        f"the same unit-level criterion rows (and the element and overall ones) "
        f"{our_seconds:.2f} s"
    )
    print(
        f"largest relative difference from R over {compared:,} estimates with 0 < p < 1: "
        + ", ".join(f"{name} {value:.1e}" for name, value in worst.items())
        + f" ({undefined:,} at p = 0 or 1 or with zero SE, where R has no interval, not compared)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
