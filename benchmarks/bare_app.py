"""The baseline for benchmarks/load.py: a bare Flask endpoint that parses the same form body and
redirects, with no database, templates or validation. The ratio to it is the figure to watch."""

from flask import Flask, redirect, request

app = Flask(__name__)


@app.post("/r/<token>")
def submit(token: str):  # type: ignore[no-untyped-def]
    _ = request.form
    return redirect(f"/r/{token}/thanks", code=303)
