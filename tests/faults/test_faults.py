"""Faults under load, on real servers: a gunicorn worker killed mid-request, PostgreSQL stopped.

Each test runs the app under gunicorn on its own PostgreSQL and drives the real submit path from
client threads. What a citizen must never see: a redirect to "thanks" for an answer that was not
stored whole, a duplicate, a half-stored response, or a traceback.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from survey.services.responses.signing import sign_started_under
from tests.helpers.servers import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
SHARED_SERVER = "postgresql://postgres@127.0.0.1:5432"
SECRET_KEY = "fault-tests-" + "k" * 40

pytestmark = pytest.mark.slow




@dataclass
class Server:
    url: str  # database URL
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log: Path


def _start_app(database_url: str, workers: int = 3) -> Server:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        FLASK_APP="wsgi",
        SECRET_KEY=SECRET_KEY,
    )
    env.pop("TEST_DATABASE_URL", None)
    subprocess.run(
        [str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    demo = subprocess.run(
        [str(BIN / "flask"), "demo"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    token = re.findall(r"Sở Tư pháp / [^:]+: \S+/r/([\w-]+)", demo)[0]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE rounds SET min_answer_seconds = 0, device_period_hours = 0, "
            "desk_limit_per_hour = 1000000, network_limit_per_hour = 1000000"
        )
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"gunicorn-{uuid.uuid4().hex}.log"
    with log.open("wb") as errors:  # gunicorn keeps its own copy of the descriptor
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "2",
                "--log-level",
                "error",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stderr=errors,
        )
    server = Server(database_url, port, token, process, log)
    try:
        wait_until_answering(port)
    except AssertionError:
        raise AssertionError(f"gunicorn did not start:\n{_stop(server)[-2000:]}") from None
    return server


def _stop(server: Server) -> str:
    """Stop gunicorn and return what it logged."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    text = server.log.read_text(errors="replace")
    server.log.unlink(missing_ok=True)
    return text


@dataclass
class Outcome:
    redirected: list[str] = field(default_factory=list)  # keys the client was told were stored
    failed: list[tuple[str, int | str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)


class Citizen:
    """One phone: fetches the form once, then submits complete questionnaires."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.cookie = ""
        self.fields: dict[str, str] = {}

    def _request(
        self, method: str, path: str, body: str | None = None
    ) -> tuple[int, str, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            text = answer.read().decode(errors="replace")
            return answer.status, text, dict(answer.getheaders())
        finally:
            conn.close()

    def load_form(self) -> None:
        status, page, headers = self._request("GET", f"/r/{self.token}?area=HT")
        assert status == 200, status
        self.cookie = headers.get("Set-Cookie", "").split(";")[0]
        self.fields = dict(
            re.findall(r'name="(csrf_token|area|started)" type="hidden" value="([^"]*)"', page)
        )
        self.fields |= {
            f"q_{c}": "4" for c in re.findall(r'name="q_([A-E]\d)" type="radio" value="4"', page)
        }
        self.fields |= {"q_E0": "1", "q_Q_OVERALL": "5", "website": ""}

    def submit(self, outcome: Outcome) -> None:
        key = "fault-" + uuid.uuid4().hex
        # Each submission is a form of its own (a served form counts once), as if served a
        # minute before: its signed start, made here instead of a GET per submission.
        started = sign_started_under((SECRET_KEY,), time.time() - 60)
        body = urllib.parse.urlencode(self.fields | {"idempotency_key": key, "started": started})
        try:
            status, text, headers = self._request("POST", f"/r/{self.token}", body)
        except (OSError, http.client.HTTPException) as exc:
            # A worker killed while it sends a response cuts it short (IncompleteRead): the
            # phone has no confirmation, so it counts as not acknowledged and is sent again.
            outcome.failed.append((key, type(exc).__name__))
            outcome.bodies.append("")
            return
        if status == 303 and headers.get("Location", "").endswith("/thanks"):
            outcome.redirected.append(key)
        else:
            outcome.failed.append((key, status))
            outcome.bodies.append(text)


def _drive(server: Server, seconds: float, threads: int, during: callable) -> Outcome:  # type: ignore[valid-type]
    outcome = Outcome()
    stop = time.monotonic() + seconds
    citizens = [Citizen(server.port, server.token) for _ in range(threads)]
    for c in citizens:
        c.load_form()

    def loop(citizen: Citizen) -> None:
        while time.monotonic() < stop:
            citizen.submit(outcome)

    workers = [threading.Thread(target=loop, args=(c,)) for c in citizens]
    for w in workers:
        w.start()
    during()
    for w in workers:
        w.join()
    return outcome


def _first_non_503(outcome: Outcome) -> str:
    for (_key, status), body in zip(outcome.failed, outcome.bodies, strict=False):
        if status != 503:
            return f"{status}: {body[:1500]}"
    return ""


def _check_stored(database_url: str, outcome: Outcome, answers_per_response: int) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT r.idempotency_key, count(a.id) FROM responses r "
            "LEFT JOIN answers a ON a.response_id = r.id "
            "WHERE r.idempotency_key LIKE 'fault-%' GROUP BY r.id, r.idempotency_key"
        ).fetchall()
    stored = {key: n for key, n in rows}
    assert len(stored) == len(rows), "a key is stored twice"
    missing = [k for k in outcome.redirected if k not in stored]
    assert missing == [], f"{len(missing)} submissions acknowledged but not stored"
    partial = {k: n for k, n in stored.items() if n != answers_per_response}
    assert partial == {}, f"half-stored responses: {partial}"


@pytest.fixture
def scratch_database() -> Iterator[str]:
    name = f"hailong_fault_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(f"{SHARED_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    yield f"{SHARED_SERVER}/{name}"
    with psycopg.connect(f"{SHARED_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_killing_a_worker_mid_load_loses_nothing_acknowledged(scratch_database: str) -> None:
    server = _start_app(scratch_database, workers=3)
    try:

        def kill_a_worker() -> None:
            time.sleep(2)
            children = subprocess.run(
                ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
            ).stdout.split()
            assert children, "no gunicorn workers found"
            os.kill(int(children[0]), signal.SIGKILL)

        outcome = _drive(server, seconds=6, threads=12, during=kill_a_worker)
    finally:
        log = _stop(server)
    assert len(outcome.redirected) > 50, "the load did not get going"
    _check_stored(scratch_database, outcome, answers_per_response=24)
    assert "Traceback" not in "".join(outcome.bodies) and "Traceback" not in log


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL cluster of this test's own, so stopping it disturbs nobody else."""
    if PG_BIN is None or os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and Debian's PostgreSQL binaries to run a private cluster")
    # pytest's own temporary folders are private to root; the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="hailong-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    shutil.chown(data, "postgres")
    port = free_port()

    def as_postgres(*args: str) -> None:
        # The server inherits any pipe it is given and never closes it: write to files instead.
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(data / "server.log"),
        "-o",
        options,
        "-w",
        "start",
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield url, data
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def test_database_outage_gives_503_pages_then_service_resumes(
    private_postgres: tuple[str, Path],
) -> None:
    url, data = private_postgres
    server = _start_app(url, workers=2)
    pg_ctl = ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(data)]
    try:

        def outage() -> None:
            time.sleep(1.5)
            subprocess.run([*pg_ctl, "-m", "fast", "stop"], check=True, capture_output=True)
            time.sleep(2)
            port = url.rsplit(":", 1)[1].split("/")[0]
            options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
            subprocess.run(
                [*pg_ctl, "-l", str(data / "server.log"), "-o", options, "-w", "start"],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        outcome = _drive(server, seconds=7, threads=6, during=outage)
        # After the outage the same citizens get through again.
        after = Outcome()
        citizen = Citizen(server.port, server.token)
        citizen.load_form()
        citizen.submit(after)
    finally:
        log = _stop(server)
    statuses = {status for _, status in outcome.failed}
    assert 503 in statuses, f"no 503 during the outage: {statuses}"
    assert statuses <= {503}, (
        f"unexpected answers in the outage: {statuses}\n{_first_non_503(outcome)}\n{log[-4000:]}"
    )
    unavailable = [b for b in outcome.bodies if "tạm thời không phục vụ" in b]
    assert unavailable, "the 503 page does not explain itself in Vietnamese"
    assert not any("Traceback" in b for b in outcome.bodies) and "Traceback" not in log
    assert len(after.redirected) == 1, after.failed
    _check_stored(url, outcome, answers_per_response=24)
