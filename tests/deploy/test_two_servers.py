"""Two app servers behind the shipped nginx site, sharing the database and Redis.

Runs deploy/nginx/hailong.conf itself (its ports, paths and certificate substituted, TLS with a
throw-away self-signed certificate) in front of two gunicorn instances started with
deploy/gunicorn.conf.py. Requests go to each server directly for "which server" questions, and
through nginx for the proxy: a form served by one server is accepted by the other, a staff login
made on one is valid on the other, and rate limits are counted once for both.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, Response, Role, utcnow
from survey.services.accounts.users import create_user
from tests.factories import make_area, make_desk, make_round, make_unit
from tests.helpers.servers import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
REDIS_URL = "redis://127.0.0.1:6379/15"
HOST = "hailong.example.gov.vn"
PASSWORD = "ao-dai-xanh-2026-hai-server"


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} in CI")
    pytest.skip(reason)


@dataclass
class Browser:
    """One phone or PC: its own cookies, talking to one address (an app server or nginx)."""

    port: int
    tls: bool = False
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, **headers: str
    ) -> tuple[int, str, http.client.HTTPMessage]:
        if self.tls:
            context = ssl._create_unverified_context()  # noqa: S323 (our throw-away certificate)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=20, context=context
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        sent = {"Host": HOST, **{k.replace("_", "-"): v for k, v in headers.items()}}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            answer = conn.getresponse()
            raw = answer.read()
        finally:
            conn.close()
        for cookie in answer.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";")[0].partition("=")
            self.cookies[name] = value
        text = (
            raw.decode(errors="replace")
            if "gzip" not in answer.headers.get("Content-Encoding", "")
            else ""
        )
        return answer.status, text, answer.headers

    def using(self, port: int, tls: bool = False) -> Browser:
        """The same cookies, sent to another address."""
        return Browser(port, tls, self.cookies)


def _hidden(page: str) -> dict[str, str]:
    return dict(
        re.findall(
            r'name="(csrf_token|area|started|idempotency_key)" type="hidden" value="([^"]*)"', page
        )
    )


def _answers(page: str) -> dict[str, str]:
    """Every criterion 4, the overall question 5: a complete questionnaire."""
    data = _hidden(page) | {"website": "", "q_E0": "1", "q_Q_OVERALL": "5"}
    data |= {f"q_{c}": "4" for c in re.findall(r'name="q_([A-E]\d)" type="radio" value="4"', page)}
    assert "csrf_token" in data and "idempotency_key" in data, page[:500]
    return data


@dataclass
class Cluster:
    token: str
    servers: list[int]  # the two gunicorn ports
    tls_port: int
    http_port: int
    logs: list[Path]


def _nginx_config(tmp: Path, servers: list[int], tls_port: int, http_port: int) -> Path:
    site = (ROOT / "deploy/nginx/hailong.conf").read_text()

    def swap(pattern: str, replacement: str, count: int = 1) -> None:
        nonlocal site
        site, done = re.subn(pattern, replacement, site, flags=re.DOTALL)
        assert done == count, f"deploy/nginx/hailong.conf changed shape: {pattern!r}"

    upstreams = "".join(
        f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in servers
    )
    swap(r"(upstream hailong_app \{\n).*?(    keepalive)", rf"\g<1>{upstreams}\g<2>")
    swap(r"listen \[::\]:[^\n]*\n", "", count=2)
    swap(r"listen 80;", f"listen 127.0.0.1:{http_port};")
    swap(r"listen 443 ssl", f"listen 127.0.0.1:{tls_port} ssl")
    swap(r"ssl_certificate +\S+;", f"ssl_certificate {tmp}/cert.pem;")
    swap(r"ssl_certificate_key +\S+;", f"ssl_certificate_key {tmp}/key.pem;")
    swap(r"/var/log/nginx/", f"{tmp}/", count=2)
    swap(r"alias /srv/hailong/app/survey/static/;", f"alias {ROOT}/survey/static/;")
    swap(
        r"include /etc/nginx/snippets/hailong-proxy.conf;",
        f"include {ROOT}/deploy/nginx/hailong-proxy.conf;",
        count=2,
    )
    (tmp / "hailong.conf").write_text(site)
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-main.log warn;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
{temp_paths}
    include {tmp}/hailong.conf;
}}
"""
    path = tmp / "nginx.conf"
    path.write_text(main)
    return path


def _start_gunicorn(
    port: int, database_url: str, prefix: str, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY="two-servers-" + "s" * 40,  # the same on both: one signs, the other checks
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATELIMIT_KEY_PREFIX=prefix,
        PROXY_FIX_X_FOR="1",
        HAILONG_BIND=f"127.0.0.1:{port}",
        HAILONG_WORKERS="1",  # each worker imports the app: seconds on a busy machine
        HAILONG_LOG_LEVEL="warning",
    )
    env.pop("TEST_DATABASE_URL", None)
    with log.open("wb") as errors:
        return subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stderr=errors,
        )


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    """Quick shutdown (SIGINT for gunicorn, SIGQUIT for nginx): nothing is in flight."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def cluster(app: Flask, database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx): the proxy test needs it")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for nginx's TLS")
    if not _redis_available():
        _skip_or_fail("Redis is not running on 127.0.0.1:6379 (start redis-server)")
    with app.app_context():
        unit = make_unit("STP", "Sở Tư pháp", [make_area()])
        desk = make_desk(unit)
        round_ = make_round([unit], min_answer_seconds=0)
        round_.device_period_hours = 0
        round_.desk_limit_per_hour = 3
        create_user(username="sonoivu", password=PASSWORD, role=Role.ADMIN, now=utcnow())
        db.session.commit()
        token = desk.token
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={HOST}",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    prefix = f"two-servers-{uuid.uuid4().hex}"  # earlier runs' counts stay out
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"gunicorn-{n}.log" for n in range(2)]
    processes = [
        _start_gunicorn(p, database_url, prefix, log) for p, log in zip(ports, logs, strict=True)
    ]
    tls_port, http_port = free_port(), free_port()
    config = _nginx_config(tmp_path, ports, tls_port, http_port)
    nginx = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(config), "-e", str(tmp_path / "nginx-main.log")],
        stderr=subprocess.PIPE,
    )
    try:
        for port, log in zip(ports, logs, strict=True):
            try:
                wait_until_answering(port)
            except AssertionError:
                raise AssertionError(log.read_text()[-2000:]) from None
        deadline = time.monotonic() + 10
        while Browser(http_port).request("GET", "/healthz")[0] != 301:
            assert nginx.poll() is None, nginx.stderr.read().decode() if nginx.stderr else ""
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield Cluster(token, ports, tls_port, http_port, logs)
    finally:
        _stop(nginx, signal.SIGQUIT)
        if nginx.stderr is not None:
            nginx.stderr.close()
        for process in processes:
            _stop(process)


def _stored(app: Flask) -> list[tuple[str, int]]:
    with app.app_context():
        rows = db.session.execute(
            select(Response.status, func.count(Answer.item_id))
            .join(Answer, Answer.response_id == Response.id)
            .group_by(Response.id, Response.status)
            .order_by(Response.id)
        )
        return [(status, n) for status, n in rows]


def test_two_app_servers_behind_nginx_share_sessions_forms_and_limits(
    app: Flask, cluster: Cluster
) -> None:
    a, b = cluster.servers
    url = f"/r/{cluster.token}"

    # A form served by A is accepted by B: the CSRF token and the signed start time travel.
    phone = Browser(a)
    status, page, _ = phone.request("GET", url)
    assert status == 200
    status, _, headers = phone.using(b).request("POST", url, _answers(page))
    assert status == 303 and headers["Location"].endswith("/thanks")

    # Through nginx over TLS: the app sees HTTPS (X-Forwarded-Proto trusted via ProxyFix).
    phone = Browser(cluster.tls_port, tls=True)
    status, page, headers = phone.request("GET", url)
    assert status == 200 and "max-age" in headers["Strict-Transport-Security"]
    assert len(headers["X-Request-Id"]) == 32  # nginx's $request_id, echoed by the app
    status, _, headers = phone.request("POST", url, _answers(page))
    assert status == 303, status

    # The third submission to the desk this hour, on A: the desk's limit (3) is now reached...
    phone = Browser(b)
    page = phone.request("GET", url)[1]
    assert phone.using(a).request("POST", url, _answers(page))[0] == 303
    # ...for B as well, and for whoever comes through nginx: the count lives in Redis.
    for server in (Browser(a), Browser(cluster.tls_port, tls=True)):
        page = server.request("GET", url)[1]
        status, html, _ = server.using(b).request("POST", url, _answers(page))
        assert status == 429 and "Quầy đang nhận rất nhiều phiếu" in html
        status, html, _ = server.request("POST", url, _answers(page))
        assert status == 429

    # Every acknowledged response is stored whole, on the one shared database.
    stored = _stored(app)
    assert [s for s, _ in stored] == ["counted"] * 3
    assert len({n for _, n in stored}) == 1 and stored[0][1] >= 23

    # A staff login made on A (with B's form) is valid on B and through nginx.
    staff = Browser(b)
    page = staff.request("GET", "/admin/login")[1]
    token = _hidden(page)["csrf_token"]
    form = {"username": "sonoivu", "password": PASSWORD, "csrf_token": token}
    assert staff.using(a).request("POST", "/admin/login", form)[0] == 302
    assert staff.using(b).request("GET", "/admin/")[0] == 200
    assert staff.using(cluster.tls_port, tls=True).request("GET", "/admin/")[0] == 200
    assert Browser(b).request("GET", "/admin/")[0] == 302  # without the cookie: to login

    # Each server wrote one JSON line per request, without desk tokens or addresses.
    for log in cluster.logs:
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
        assert {"/r/<token>", "/admin/"} & {line["route"] for line in lines}
        assert all({"request_id", "status", "duration_ms"} <= set(line) for line in lines)
        assert cluster.token not in log.read_text() and "127.0.0.1" not in str(lines)

    # nginx itself: static files compressed and cached a year, the console not compressed,
    # plain HTTP sent to HTTPS. (One test: starting the servers is most of its time.)
    phone = Browser(cluster.tls_port, tls=True)
    page = phone.request("GET", f"/r/{cluster.token}")[1]
    css = re.search(r'href="(/static/hailong\.css\?v=\w+)"', page)
    assert css is not None
    status, _, headers = phone.request("GET", css.group(1), Accept_Encoding="gzip")
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert (
        "immutable" in headers["Cache-Control"] and "max-age=31536000" in headers["Cache-Control"]
    )
    assert "X-Request-Id" not in headers  # nginx answered, not the app
    assert "no-cache" in phone.request("GET", "/static/hailong.css")[2]["Cache-Control"]
    # The console is not compressed (BREACH), citizen pages are.
    assert "Content-Encoding" not in phone.request("GET", "/admin/login", Accept_Encoding="gzip")[2]
    assert (
        phone.request("GET", f"/r/{cluster.token}", Accept_Encoding="gzip")[2]["Content-Encoding"]
        == "gzip"
    )
    status, _, headers = Browser(cluster.http_port).request("GET", f"/r/{cluster.token}")
    assert status == 301 and headers["Location"] == f"https://{HOST}/r/{cluster.token}"
