"""Static files named by their content, so that phones keep them instead of asking again.

``asset_url("hailong.css")`` gives ``/static/hailong.css?v=<digest>``. A request carrying the
current digest may be cached for a year: a changed file gets a new digest, hence a new URL. Any
other request for a static file keeps Flask's default (revalidate with the ETag). On a slow
mobile network that saves a round trip per file on every page after the first.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Flask, current_app, request, url_for
from werkzeug.wrappers import Response

ONE_YEAR = 365 * 24 * 3600


@lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    # Keyed by modification time and size too, so an edited file gets a new digest at once.
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _current_digest(filename: str) -> str | None:
    folder = current_app.static_folder
    if folder is None:
        return None
    root = Path(folder).resolve()
    path = (root / filename).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def asset_url(filename: str) -> str:
    digest = _current_digest(filename)
    if digest is None:
        return url_for("static", filename=filename)
    return url_for("static", filename=filename, v=digest)


def _cache_versioned(response: Response) -> Response:
    if request.endpoint != "static" or response.status_code != 200:
        return response
    filename = (request.view_args or {}).get("filename", "")
    wanted = request.args.get("v")
    if wanted and wanted == _current_digest(str(filename)):
        response.cache_control.public = True
        response.cache_control.max_age = ONE_YEAR
        response.cache_control.immutable = True
        response.cache_control.no_cache = None
    return response


def init_app(app: Flask) -> None:
    app.after_request(_cache_versioned)
    app.jinja_env.globals["asset_url"] = asset_url
