"""Gunicorn settings for one Hài lòng app server: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

Every app server is stateless: sessions are signed cookies, rate limits and login lockouts live in
Redis (``RATELIMIT_STORAGE_URI``), everything else in PostgreSQL. Add servers behind nginx's
``upstream`` block without changing anything here.
"""

from __future__ import annotations

import gc
import multiprocessing
import os

from gunicorn import glogging

# The index table makes thousands of small matrix products: a second BLAS thread only spins
# (1,000,000 responses: 3.6 s of CPU with one thread, 13.5 s with one per core; see
# docs/benchmarks.md). Set before numpy is imported by the preloaded app.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# nginx reaches the servers over the private network; never bind a public address.
bind = os.environ.get("HAILONG_BIND", "127.0.0.1:8000")
# Submissions are CPU-bound (about 5 ms of the app's CPU each, see README "Measured here"): sync
# workers, one per core and one more to cover the waits on PostgreSQL and Redis. On 2 CPUs, 3
# workers carried the most submissions; 5 carried a quarter fewer, each worker's share of the
# CPU caches and the switching between them costing more than the waits they cover.
workers = int(os.environ.get("HAILONG_WORKERS", str(multiprocessing.cpu_count() + 1)))
worker_class = "sync"
# Exports of a large round (XLSX) take tens of seconds; nginx's proxy_read_timeout matches.
timeout = int(os.environ.get("HAILONG_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so that a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
# The application is imported once, in the master, and each worker is a fork of it: a worker
# recycled above (every 15 s or so per worker at a few hundred submissions a second) starts in
# milliseconds instead of importing everything again, a second of CPU taken from the citizens
# being served. create_app opens no connection, so no socket is shared across the fork.
preload_app = True
# The app trusts X-Forwarded-* only through werkzeug's ProxyFix (PROXY_FIX_X_FOR); gunicorn must
# not set the request scheme from headers on its own.
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1,::1"
# No gunicorn access log: it would record client addresses and paths with desk tokens. The app
# logs every request as one JSON line (request id, route pattern, status, duration) instead.
accesslog = None


def when_ready(server: object) -> None:
    """Before the first worker is forked: the result tables of the rounds people read, from
    their stored statistics (never their answers), and the page templates, made once here, so
    that each worker starts with them (``survey.services.results.warmup``). Off with
    HAILONG_WARM_UP=0."""
    if os.environ.get("HAILONG_WARM_UP", "1") == "0":
        return
    from survey.services.results.warmup import warm_results

    app = server.app.wsgi()  # type: ignore[attr-defined]  # gunicorn's Arbiter
    try:
        warm_results(app)
    except Exception:  # a warm-up that fails must not keep the server from serving
        app.logger.exception("warming the result tables failed; pages will make them")


def post_fork(server: object, worker: object) -> None:
    """In the worker just forked: the database connections of a result page, opened before
    its first request (``survey.services.results.warmup.warm_worker``)."""
    if os.environ.get("HAILONG_WARM_UP", "1") == "0":
        return
    from survey.services.results.warmup import warm_worker

    warm_worker(server.app.wsgi())  # type: ignore[attr-defined]  # gunicorn's Arbiter


def pre_fork(server: object, worker: object) -> None:
    """Freeze what the master imported before each worker is forked from it (the use Python's
    ``gc.freeze`` documentation gives): the cyclic garbage collector then never walks those
    200,000-odd objects again, nor touches their memory pages, which stay shared with the master.
    Without it, each worker made one full collection in its life of about 5,000 submissions,
    17 to 50 ms long on this machine, with the citizen's request in hand waiting behind it."""
    gc.freeze()


class NoAccessLog(glogging.Logger):
    """gunicorn builds an access-log line for every request whenever a logging configuration is
    given (as below), even with no access log to write it to: a few percent of a submission's
    CPU for nothing."""

    def access(self, resp: object, req: object, environ: object, request_time: object) -> None:
        return None


logger_class = NoAccessLog
errorlog = "-"
loglevel = os.environ.get("HAILONG_LOG_LEVEL", "info")
proc_name = "hailong"

# Without this the app's INFO request logs would be dropped (Python's root logger says WARNING).
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json_line": {"format": "%(message)s"},
        "plain": {"format": "%(asctime)s %(levelname)s [%(name)s] %(message)s"},
    },
    "handlers": {
        "requests": {"class": "logging.StreamHandler", "formatter": "json_line"},
        "errors": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    # gunicorn merges this over its own defaults one level deep: "root" must name our handlers.
    "root": {"handlers": ["errors"], "level": "WARNING"},
    "loggers": {
        "survey.requests": {"handlers": ["requests"], "level": "INFO", "propagate": False},
        "survey": {"handlers": ["errors"], "level": "WARNING", "propagate": False},
        "gunicorn.error": {"handlers": ["errors"], "level": "INFO", "propagate": False},
    },
}
