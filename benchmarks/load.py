"""Load on the real submit path: gunicorn + PostgreSQL + Redis, driven by wrk.

    python benchmarks/load.py [--seconds 20] [--connections 50] [--workers N]

Creates a scratch PostgreSQL database (LOAD_DATABASE_SERVER, default the local server), builds
the demo province, starts the app as production does (``deploy/gunicorn.conf.py``, its request
log included, rate limits counted in Redis at LOAD_REDIS_URL, default the local one) and posts
complete SIPAS questionnaires (each with its own idempotency key) from wrk's Lua script, measured
after ``--warm-up`` seconds of the same load (default 3; their keys differ). Then it
does the same against a bare Flask endpoint started the same way, prints throughput and latency
percentiles for both, and checks that every submission answered with a redirect is in the
database exactly once. ``--workers`` defaults to the production configuration's own default.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SERVER = os.environ.get("LOAD_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0")

LUA = r"""
local counter = 0
local prefix = "%(prefix)s"
local starts = {}
request = function()
  counter = counter + 1
  local key = string.format("%%s%%07d-%%09d", prefix, wrk.thread_id or 0, counter)
  -- Each submission sends a form of its own (a served form counts once): its signed start.
  local started = starts[(counter - 1) %% #starts + 1]
  local body = wrk.body_head .. started .. "&idempotency_key=" .. key .. wrk.body_tail
  return wrk.format("POST", wrk.path_submit, wrk.hdrs, body)
end
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
init = function(args)
  wrk.thread_id = tid
  wrk.path_submit = "%(path)s"
  wrk.hdrs = {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = "%(cookie)s"}
  wrk.body_head = "%(head)s"
  wrk.body_tail = "%(tail)s"
  for line in io.lines("%(starts)s" .. tid .. ".txt") do
    starts[#starts + 1] = line
  end
end
"""


# Signed starts of served forms per wrk thread: more than a run of this length sends.
STARTS_PER_THREAD = 40_000


def signed_starts(stem: Path, secret: str) -> None:
    """One file of signed form starts (each with its own nonce) per wrk thread, served a minute
    before the run, as the app signs them under ``secret``."""
    sys.path.insert(0, str(ROOT))
    from survey.services.responses.signing import sign_started_under

    served = time.time() - 60
    for thread in (1, 2):
        lines = (
            urllib.parse.quote(sign_started_under((secret,), served))
            for _ in range(STARTS_PER_THREAD)
        )
        Path(f"{stem}{thread}.txt").write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (loopback only)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not come up")


def gunicorn(
    app: str, port: int, workers: int | None, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """The production configuration; its request log (one JSON line a request) goes to ``log``."""
    settings = {"HAILONG_BIND": f"127.0.0.1:{port}"}
    if workers:
        settings["HAILONG_WORKERS"] = str(workers)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), app],
            cwd=ROOT,
            env=dict(env, **settings),
            stdout=sink,
            stderr=sink,
        )


def worker_count(master: subprocess.Popen[bytes]) -> int:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children")
    return len(children.read_text().split()) if children.exists() else 0


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures: dict[str, float] = {}
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            figures[f"p{pct}_ms"] = float(m.group(1)) * units[m.group(2)]
    m = re.search(r"(\d+) requests in", out)
    figures["requests"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Socket errors: (.*)", out)
    figures["socket_errors"] = (
        float(sum(int(x) for x in re.findall(r"\d+", m.group(1)))) if m else 0
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--warm-up", type=int, default=3, help="seconds of load before the measured run"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    name = f"hailong_load_{os.getpid()}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    env = dict(
        os.environ,
        DATABASE_URL=url,
        FLASK_APP="wsgi",
        SECRET_KEY="load-" + "x" * 40,
        PUBLIC_BASE_URL="http://127.0.0.1",
        RATELIMIT_STORAGE_URI=REDIS,
        RATELIMIT_KEY_PREFIX=name,
    )
    log = Path(tempfile.mkdtemp()) / "gunicorn.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [str(VENV_BIN / "flask"), "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        demo = subprocess.run(
            [str(VENV_BIN / "flask"), "demo"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        token = re.search(r"/r/([\w-]+)", demo.split("Sở Tư pháp")[1]).group(1)  # type: ignore[union-attr]
        with psycopg.connect(url, autocommit=True) as conn:
            # Measure the path, not the limits: the bench is one client at one desk.
            conn.execute(
                "UPDATE rounds SET min_answer_seconds = 0, device_period_hours = 0, "
                "desk_limit_per_hour = 100000000, network_limit_per_hour = 100000000"
            )

        port = free_port()
        processes.append(gunicorn("wsgi:app", port, args.workers, env, log))
        wait_for(f"http://127.0.0.1:{port}/")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"http://127.0.0.1:{port}/r/{token}?area=HT").read().decode()
        fields = dict(
            re.findall(r'name="(csrf_token|area|started)" type="hidden" value="([^"]*)"', page)
        )
        answers = {
            f"q_{c}": "4" for c in re.findall(r'name="q_([A-E]\d)" type="radio" value="4"', page)
        }
        answers |= {"q_E0": "1", "q_Q_OVERALL": "5", "q_Q_COMMENT": "Cán bộ nhiệt tình, chu đáo."}
        fields.pop("started")
        body = urllib.parse.urlencode(fields | answers | {"website": ""}) + "&started="
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        tmp = Path(tempfile.mkdtemp())
        scripts = {}
        for prefix in ("warm-", "load-"):  # distinct keys: a warm-up key resent is a retry
            signed_starts(tmp / f"{prefix}starts-", env["SECRET_KEY"])
            scripts[prefix] = tmp / f"{prefix}submit.lua"
            scripts[prefix].write_text(
                LUA
                % {
                    "prefix": prefix,
                    "path": f"/r/{token}",
                    "cookie": cookie,
                    "head": body,
                    "tail": "",
                    "starts": tmp / f"{prefix}starts-",
                }
            )
        script = scripts["load-"]
        if args.warm_up:
            # Not measured: each worker's first submissions fill its caches and PostgreSQL's
            # prepared statements, which a server in service has long done.
            run_wrk(f"http://127.0.0.1:{port}", scripts["warm-"], args.warm_up, args.connections)
        # Counted now: with the app preloaded, the first worker answers before the others exist.
        workers = worker_count(processes[-1])
        app_figures = run_wrk(f"http://127.0.0.1:{port}", script, args.seconds, args.connections)
        time.sleep(1)
        with psycopg.connect(url) as conn:
            stored, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT idempotency_key) FROM responses "
                "WHERE idempotency_key LIKE 'load-%'"
            ).fetchone() or (0, 0)
            excluded = conn.execute(
                "SELECT count(*) FROM responses WHERE idempotency_key LIKE 'load-%' "
                "AND status = 'excluded'"
            ).fetchone()
            partial = conn.execute(
                "SELECT count(*) FROM responses r WHERE idempotency_key LIKE 'load-%%' AND "
                "(SELECT count(*) FROM answers a WHERE a.response_id = r.id) <> %s",
                (len(answers),),
            ).fetchone()
        processes[-1].send_signal(signal.SIGTERM)
        processes[-1].wait(timeout=30)

        bare_port = free_port()
        processes.append(
            gunicorn(
                "bare_app:app",
                bare_port,
                args.workers,
                dict(env, PYTHONPATH=str(ROOT / "benchmarks")),
                log,
            )
        )
        time.sleep(2)  # the bare app has no GET route to poll; it starts in well under that
        if args.warm_up:
            run_wrk(f"http://127.0.0.1:{bare_port}", script, args.warm_up, args.connections)
        bare = run_wrk(f"http://127.0.0.1:{bare_port}", script, args.seconds, args.connections)

        ok = app_figures["requests"] - app_figures["errors"]
        print(f"machine: {describe()}")
        print(
            f"load: {args.connections} connections, {args.seconds} s after {args.warm_up} s "
            "of warm-up, "
            f"gunicorn {workers} sync workers (deploy/gunicorn.conf.py), PostgreSQL, "
            f"limits in {REDIS.split('@')[-1]}; request log {log}"
        )
        for label, f in (("submit path", app_figures), ("bare Flask", bare)):
            print(
                f"{label:12s}: {f['rps']:8.1f} req/s  p50 {f.get('p50_ms', 0):7.1f} ms  "
                f"p90 {f.get('p90_ms', 0):7.1f} ms  p99 {f.get('p99_ms', 0):7.1f} ms  "
                f"non-3xx {f['errors']:.0f}  socket errors {f['socket_errors']:.0f}"
            )
        print(f"ratio submit/bare throughput: {app_figures['rps'] / max(bare['rps'], 1e-9):.2f}")
        print(
            f"redirects {ok:.0f}, stored {stored}, distinct keys {distinct}, "
            f"responses with a missing answer {partial[0] if partial else '?'}, "
            f"excluded {excluded[0] if excluded else '?'}"
        )
        lost = ok - stored
        print("nothing lost" if lost <= 0 and stored == distinct else f"LOST {lost:.0f}")
        return 0 if lost <= 0 and stored == distinct else 1
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    raise SystemExit(main())
