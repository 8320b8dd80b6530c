"""Result pages of a large round: cold, warm and after a new response, side by side in one run.

    python benchmarks/results_bench.py [--database-url postgresql://postgres@127.0.0.1/hl_bench]
                                       [--responses 1000000] [--runs 3] [--workers N]

Builds the demo province with ``--responses`` simulated responses in the database named (a
fresh one is created on the local PostgreSQL server unless ``--database-url`` names one that
already holds the demo; ``--database-url sqlite:///path`` for SQLite), then, ``--runs`` times:

1. starts the app as production does (gunicorn, ``deploy/gunicorn.conf.py``), signs in as the
   demo administrator, and opens every result page once: **cold**, the first view after a server
   start;
2. opens each again, three times: **warm** (the median);
3. adds one response to the open round (``survey.services.demo.simulate_responses``, committed)
   and opens each page once: **after a change**, the first view after a new response;
4. stops the server.

Prints, per page, the medians over the runs of each kind (seconds, as the client saw them), the
ratios cold/warm and after-change/warm, and the machine. Issue 21's target: both ratios at most
3, warm under 0.3 s, cold under 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

ROOT = Path(__file__).resolve().parent.parent

VENV_BIN = Path(sys.executable).parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
PASSWORD = "ao-dai-xanh-2026"  # noqa: S105 (the demo accounts' password, set by this script)
PAGES = (
    ("overview", "/admin/rounds/{r}/results"),
    ("units", "/admin/rounds/{r}/results/units"),
    ("unit", "/admin/rounds/{r}/results/units/{u}"),
    ("elements", "/admin/rounds/{r}/results/elements"),
    ("areas", "/admin/rounds/{r}/results/areas"),
    ("units chart", "/admin/rounds/{r}/results/units/chart"),
    ("report", "/admin/rounds/{r}/report"),
)


def environment(url: str) -> dict[str, str]:
    return dict(
        os.environ,
        DATABASE_URL=url,
        FLASK_APP="wsgi",
        SECRET_KEY="bench-" + "x" * 40,
        DEMO_PASSWORD=PASSWORD,
        PUBLIC_BASE_URL="http://127.0.0.1",
    )


def build(url: str, responses: int) -> None:
    env = environment(url)
    subprocess.run([str(VENV_BIN / "flask"), "db", "upgrade"], env=env, cwd=ROOT, check=True)
    started = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "flask"), "demo", "--responses", str(responses)],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"built the round: {responses:,} responses in {time.perf_counter() - started:.0f} s")


def has_demo(url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM rounds")).scalar())
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def add_response(url: str) -> None:
    """One more response to the demo round, committed, as a submission leaves it."""
    os.environ.update(environment(url))
    from survey import create_app
    from survey.extensions import db
    from survey.models import Round, utcnow
    from survey.services.demo import simulate_responses

    app = create_app()
    with app.app_context():
        round_ = db.session.get(Round, 1)
        if round_ is None:
            raise SystemExit("the demo round is missing")
        simulate_responses(round_, 1, now=utcnow(), seed=int(time.time()))
        db.session.commit()
        db.engine.dispose()


def start(url: str, port: int, workers: int | None, log: Path) -> subprocess.Popen[bytes]:
    env = dict(environment(url), HAILONG_BIND=f"127.0.0.1:{port}")
    if workers:
        env["HAILONG_WORKERS"] = str(workers)
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy/gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"the server did not start (log: {log})")


def stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def signed_in(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/admin/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    if token is None:
        raise SystemExit("no CSRF token on the login page")
    answer = session.post(
        f"{base}/admin/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        raise SystemExit(f"sign-in failed: {answer.status_code}")
    return session


def view(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    answer = session.get(url, timeout=600)
    took = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"{url}: {answer.status_code}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--port", type=int, default=8093)
    args = parser.parse_args()

    url = args.database_url
    if url is None:
        import psycopg

        name = f"hailong_results_{os.getpid()}"
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{SERVER}/{name}"
    if not has_demo(url):
        build(url, args.responses)
    else:
        subprocess.run(
            [str(VENV_BIN / "flask"), "db", "upgrade"], env=environment(url), cwd=ROOT, check=True
        )
    base = f"http://127.0.0.1:{args.port}"
    log = Path(tempfile.mkdtemp()) / "gunicorn.log"
    times: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "warm": [], "after": []} for name, _ in PAGES
    }
    unit = 1
    for run in range(args.runs):
        server = start(url, args.port, args.workers, log)
        try:
            session = signed_in(base)
            urls = {name: base + path.format(r=1, u=unit) for name, path in PAGES}
            for name, page in urls.items():
                times[name]["cold"].append(view(session, page))
            for name, page in urls.items():
                times[name]["warm"].append(statistics.median(view(session, page) for _ in range(3)))
            add_response(url)
            for name, page in urls.items():
                times[name]["after"].append(view(session, page))
        finally:
            stop(server)
        print(f"run {run + 1} of {args.runs} done")

    workers = args.workers or (os.cpu_count() or 1) + 1
    print(
        f"\nresult pages of the demo round, {url.split('/')[-1]} ({url.split(':')[0]}), "
        f"gunicorn with {workers} workers; medians of {args.runs} runs, seconds"
    )
    print(f"{'page':<14}{'cold':>8}{'warm':>8}{'after':>8}{'cold/warm':>11}{'after/warm':>12}")
    worst = [0.0, 0.0]
    for name, _ in PAGES:
        cold, warm, after = (statistics.median(times[name][k]) for k in ("cold", "warm", "after"))
        worst = [max(worst[0], cold / warm), max(worst[1], after / warm)]
        print(
            f"{name:<14}{cold:>8.3f}{warm:>8.3f}{after:>8.3f}{cold / warm:>11.1f}"
            f"{after / warm:>12.1f}"
        )
    print(
        f"largest ratios: cold/warm {worst[0]:.1f}, after/warm {worst[1]:.1f} (target: at most 3)"
    )
    print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
