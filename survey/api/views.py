"""API views."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from survey.api import bp


@bp.get("/status")
def status() -> Any:
    return jsonify(status="ok", api="v1")
