"""Time and memory of the round exports on a large round, as ``flask export`` writes them.

    python benchmarks/export_bench.py [--responses 1000000] [--formats csv,sav,dta,xlsx,index-csv]
                                      [--database PATH] [--tracemalloc]

The round: the demo province (11 units, 7 service areas, 16 desks, the SIPAS questionnaire of
22 criteria, an overall question, priorities and a comment) with ``--responses`` simulated
responses (``survey.services.demo.simulate_responses``, 50,000 at a time), in a fresh migrated
SQLite database (kept and reused when ``--database`` names one that exists).

Each format is exported in a fresh child process (``flask export --format F``), so that the
peak resident size (``resource.getrusage(RUSAGE_SELF).ru_maxrss`` in the child: everything the
process ever held, interpreter and libraries included) belongs to that export alone; with
``--tracemalloc`` a second, untimed run reports the peak of memory allocated through Python's
allocator (numpy and pandas buffers included). Prints seconds, rows, file size and memory per
format, then the machine. Target: every export under 1 GB of memory at a million responses.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

BATCH = 50_000
FORMATS = ("csv", "sav", "dta", "xlsx", "spec", "index-csv", "index-xlsx")
SUFFIX = {"index-csv": "csv", "index-xlsx": "xlsx", "spec": "json"}
LIMIT_MIB = 1024


def _url(database: str) -> str:
    """A database URL: a path is a SQLite file."""
    return database if "://" in database else f"sqlite:///{database}"


def _app(database: str):  # type: ignore[no-untyped-def]  # a script; Flask is imported lazily
    from survey import create_app
    from survey.config import _database_url

    return create_app({"SQLALCHEMY_DATABASE_URI": _database_url(_url(database))})


COPY_QUERIES = (
    "COPY (SELECT r.id, r.received_at, r.channel, r.unit_id, r.service_area_id, r.desk_id "
    "FROM responses r WHERE r.status = 'counted' ORDER BY r.id) TO STDOUT",
    "COPY (SELECT a.response_id, a.item_id, a.value, a.not_applicable FROM answers a "
    "JOIN responses r ON r.id = a.response_id WHERE r.status = 'counted') TO STDOUT",
)


def bare_copy(url: str) -> float:
    """Seconds for PostgreSQL to send the same responses and answers with a bare COPY ... TO
    STDOUT, read and thrown away: the floor any export of them stands on."""
    import psycopg

    started = time.perf_counter()
    with (
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn,
        conn.cursor() as cursor,
    ):
        for query in COPY_QUERIES:
            with cursor.copy(query) as copy:
                for _part in copy:
                    pass
    return time.perf_counter() - started


def build(path: str, responses: int) -> None:
    """A fresh database with the demo province and ``responses`` simulated responses."""
    from flask_migrate import upgrade

    from survey.extensions import db
    from survey.models import utcnow
    from survey.services.demo import build_demo_province, keep_frame_plausible, simulate_responses

    app = _app(path)
    with app.app_context():
        upgrade()
        now = utcnow()
        round_ = build_demo_province(now=now)
        db.session.commit()
        done = 0
        while done < responses:
            batch = min(BATCH, responses - done)
            simulate_responses(round_, batch, now=now, seed=1000 + done // BATCH)
            db.session.commit()
            done += batch
            print(f"  {done:,} responses stored", file=sys.stderr, flush=True)
        keep_frame_plausible(round_)
        db.session.commit()


def export(path: str, fmt: str, out: Path, trace: bool) -> dict[str, object]:
    """One export, as ``flask export`` runs it; its time and this process's peak memory."""
    app = _app(path)
    runner = app.test_cli_runner()
    if trace:
        tracemalloc.start()
    # The largest round (a database built by the demo also holds a small sampled round).
    with app.app_context():
        from sqlalchemy import func, select

        from survey.extensions import db
        from survey.models import Response

        largest = db.session.scalar(
            select(Response.round_id)
            .group_by(Response.round_id)
            .order_by(func.count(Response.id).desc())
            .limit(1)
        )
        db.session.remove()
    chosen = ["--round", str(largest)] if largest is not None else []
    started = time.perf_counter()
    result = runner.invoke(args=["export", *chosen, "--format", fmt, "--out", str(out)])
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"flask export --format {fmt} failed: {result.output}")
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "format": fmt,
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "max_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "traced_peak_mib": None if peak is None else peak / 1024**2,
        "bytes": out.stat().st_size,
        "said": result.output.strip(),
    }


def _child(database: str, fmt: str, out: Path, trace: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", str(database), fmt, str(out)]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"export {fmt} failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        database, fmt, out = sys.argv[2], sys.argv[3], Path(sys.argv[4])
        print(json.dumps(export(database, fmt, out, "--trace" in sys.argv)))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,sav,dta,xlsx,index-csv")
    parser.add_argument("--database", type=Path, default=None, help="reuse or keep this file")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL database (built with the demo round if it has none); "
        "its bare COPY of the same rows is timed in the same run",
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also the traced peak")
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"unknown formats {unknown}; choose from {', '.join(FORMATS)}")

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database_url or str(args.database or Path(tmp) / "bench.sqlite3")
        if not _has_round(database):
            print(f"building a round of {args.responses:,} responses in {database}", flush=True)
            started = time.perf_counter()
            # In a child too: the build's memory must not count against the exports.
            done = subprocess.run(
                [sys.executable, __file__, "--build", str(database), str(args.responses)],
                check=False,
            )
            if done.returncode != 0:
                return done.returncode
            print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
        print(f"{'format':<11} {'seconds':>8} {'cpu s':>7} {'rows':>10} {'MiB file':>9} "
              f"{'max RSS MiB':>12} {'traced MiB':>11}")  # fmt: skip
        worst = 0.0
        postgres = database.startswith("postgresql")
        timings: dict[str, float] = {}
        copies = [bare_copy(database)] if postgres else []
        for fmt in formats:
            out = Path(tmp) / f"export.{SUFFIX.get(fmt, fmt)}"
            timed = _child(database, fmt, out, trace=False)
            traced = _child(database, fmt, out, trace=True) if args.tracemalloc else None
            rss = float(timed["max_rss_mib"])  # type: ignore[arg-type]  # from our own JSON
            worst = max(worst, rss)
            peak = "" if traced is None else f"{traced['traced_peak_mib']:.0f}"
            rows = str(timed["said"]).split(" ")[1] if fmt != "spec" else "-"
            print(
                f"{fmt:<11} {timed['seconds']:>8.1f} {timed['cpu_seconds']:>7.1f} {rows:>10} "
                f"{int(timed['bytes']) / 1024**2:>9.1f} {rss:>12.0f} {peak:>11}",  # type: ignore[call-overload]
                flush=True,
            )
            out.unlink(missing_ok=True)
            timings[fmt] = float(timed["seconds"])  # type: ignore[arg-type]  # our own JSON
        if postgres:
            copies.append(bare_copy(database))
            floor = statistics.median(copies)
            print(f"bare COPY of the same rows: {' '.join(f'{c:.1f}' for c in copies)} s")
            for fmt, seconds in timings.items():
                print(f"  {fmt}: {seconds / floor:.1f} x the COPY")
        print(f"largest peak resident size: {worst:.0f} MiB (limit {LIMIT_MIB} MiB)")
        print(f"machine: {describe()}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0 if worst < LIMIT_MIB else 1


def _has_round(database: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    if "://" not in database and not Path(database).exists():
        return False
    engine = create_engine(_url(database).replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM rounds")).scalar())
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--build":
        build(sys.argv[2], int(sys.argv[3]))
        raise SystemExit(0)
    raise SystemExit(main())
