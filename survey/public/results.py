"""Public result pages: published rounds an administrator opted in, readable by anyone without
signing in, Vietnamese first (``?lang=en`` for English), plain HTML that needs no script. Only
indices and their intervals: no responses, no comments."""

from __future__ import annotations

from flask import render_template

from survey.public import bp
from survey.services.results.method import method_statements
from survey.services.results.publication import public_results, public_round, public_rounds

MAX_ID = 2_147_483_647


@bp.get("/ket-qua")
def results_index() -> str:
    return render_template("public/results_index.html", rounds=public_rounds())


@bp.get(f"/ket-qua/<int(max={MAX_ID}):round_id>")
def round_results(round_id: int) -> str:
    round_ = public_round(round_id)
    results = public_results(round_)
    return render_template(
        "public/results.html",
        round=round_,
        results=results,
        method=method_statements(round_.template_version, results.measure, round_.kind),
    )
