"""How fast the citizen's pages render on a cheap phone on a slow 3G network, in Chromium.

    python benchmarks/page_speed.py [--runs 5] [--latency 400] [--kbps 400] [--cpu 4]

Builds the demo province in a scratch SQLite database, serves the app on a loopback port, and
opens the citizen's pages in Debian's headless Chromium (driven by Playwright) on a 360 x 740
touch screen, with the network throttled through the DevTools protocol
(Network.emulateNetworkConditions: 400 kbit/s each way, 400 ms round trip) and the CPU slowed
4x (Emulation.setCPUThrottlingRate). For each page it prints the median over the runs of:
first contentful paint (what the citizen sees), DOMContentLoaded (the deferred script has
run) and the load event, all from navigation start, plus the bytes that crossed the network.

Each page is measured twice: served compressed, as nginx does in production (a small gzip
middleware stands in for it), and uncompressed, as the bare app serves it. "cold" means an
empty cache; "warm" means the stylesheet and script were cached by an earlier page, which is
the citizen's case after the area choice. The last line times a submission: from the tap on
"send" to the thank-you page's load event.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import describe
from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
COMPRESSIBLE = ("text/html", "text/css", "text/javascript", "application/javascript")

# The paint entry can arrive after the load event: wait for it.
TIMINGS = """() => new Promise(resolve => new PerformanceObserver((list, observer) => {
  const fcp = list.getEntriesByName('first-contentful-paint')[0];
  if (!fcp) return;
  observer.disconnect();
  const nav = performance.getEntriesByType('navigation')[0];
  const bytes = performance.getEntriesByType('resource')
    .reduce((sum, r) => sum + r.transferSize, nav.transferSize);
  resolve({fcp: fcp.startTime, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
           bytes: bytes});
}).observe({type: 'paint', buffered: true}))"""


class Gzip:
    """What nginx's ``gzip on`` does for text responses, for an honest production figure."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", ""):
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        headers = captured["headers"]
        kind = next((v for k, v in headers if k.lower() == "content-type"), "")
        if kind.startswith(COMPRESSIBLE) and len(body) > 256:
            body = gzip.compress(body, compresslevel=5)
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers += [
                ("Content-Encoding", "gzip"),
                ("Vary", "Accept-Encoding"),
                ("Content-Length", str(len(body))),
            ]
        start_response(captured["status"], headers)
        return [body]


def build_site(folder: Path) -> tuple[Any, str, str]:
    """The demo province; returns the app, a desk's token and one of its areas."""
    from flask_migrate import upgrade

    from survey import create_app
    from survey.extensions import db
    from survey.models import utcnow
    from survey.services.demo import build_demo_province, demo_desks
    from survey.services.organisation.directory import desk_by_token, service_areas_of_desk

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'speed.sqlite3'}", "SECRET_KEY": "x" * 40}
    )
    with app.app_context():
        upgrade()
        round_ = build_demo_province(now=utcnow())
        round_.min_answer_seconds = 0  # the benchmark answers at machine speed
        db.session.commit()
        # A desk of the service centre: several areas, so the citizen chooses one first.
        token = next(
            d.token
            for d in demo_desks(round_)
            if len(service_areas_of_desk(desk_by_token(d.token))) > 1
        )
        area = service_areas_of_desk(desk_by_token(token))[0].code
    return app, token, area


def throttle(page: Any, latency: float, kbps: float, cpu: float, cache: bool) -> Any:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": not cache})
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": latency,
            "downloadThroughput": kbps * 1000 / 8,
            "uploadThroughput": kbps * 1000 / 8,
        },
    )
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu})
    return cdp


def measure(browser: Any, base: str, paths: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Open ``paths`` in order in one fresh phone; the last one is measured."""
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    throttle(page, args.latency, args.kbps, args.cpu, cache=True)
    for path in paths:
        page.goto(base + path, wait_until="load")
    figures: dict[str, Any] = page.evaluate(TIMINGS)
    context.close()
    return figures


def measure_submit(browser: Any, base: str, path: str, args: argparse.Namespace) -> float:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    throttle(page, args.latency, args.kbps, args.cpu, cache=True)
    page.goto(base + path, wait_until="load")
    for radio in page.locator("input[type=radio][value='4']:visible").all():
        radio.check()
    page.check("#q_Q_OVERALL input[value='5']")
    # Timed here rather than in the page: the two documents' performance.timeOrigin values
    # proved not comparable under CPU throttling (they gave negative durations). Playwright's
    # own round trips add a few milliseconds.
    tapped = time.perf_counter()
    page.get_by_role("button").last.click()
    page.wait_for_url("**/thanks")
    page.wait_for_load_state("load")
    loaded = time.perf_counter()
    context.close()
    return (loaded - tapped) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=400, help="round trip, ms")
    parser.add_argument("--kbps", type=float, default=400, help="kbit/s each way")
    parser.add_argument("--cpu", type=float, default=4, help="CPU slow-down factor")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("needs Chromium: apt-get install chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="hailong-speed-"))
    app, token, area = build_site(folder)
    servers = {
        "gzip": make_server("127.0.0.1", 0, Gzip(app), threaded=True),
        "plain": make_server("127.0.0.1", 0, app, threaded=True),
    }
    for server in servers.values():
        threading.Thread(target=server.serve_forever, daemon=True).start()
    desk, form = f"/r/{token}", f"/r/{token}?area={area}"
    pages = {
        "landing (cold)": ["/"],
        "area choice (cold)": [desk],
        "questionnaire (cold)": [form],
        "questionnaire after area choice (warm)": [desk, form],
        "questionnaire in English (warm)": [desk, form + "&lang=en"],
        "not found (cold)": ["/r/no-such-desk"],
    }
    print(f"machine: {describe()}")
    print(
        f"network: {args.kbps:g} kbit/s each way, {args.latency:g} ms round trip; "
        f"CPU {args.cpu:g}x slower; 360x740 touch screen; median of {args.runs} runs"
    )
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            print(f"browser: Chromium {browser.version}")
            for mode, server in servers.items():
                base = f"http://127.0.0.1:{server.server_port}"
                label = "compressed (as behind nginx)" if mode == "gzip" else "uncompressed"
                print(f"\n{label}")
                print(f"  {'page':40s} {'paint':>8s} {'DOM ready':>10s} {'load':>8s} {'bytes':>8s}")
                for name, paths in pages.items():
                    runs = [measure(browser, base, paths, args) for _ in range(args.runs)]

                    def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
                        return statistics.median(r[key] for r in runs)

                    print(
                        f"  {name:40s} {median('fcp'):6.0f}ms {median('dcl'):8.0f}ms "
                        f"{median('load'):6.0f}ms {median('bytes'):8.0f}"
                    )
                sends = [measure_submit(browser, base, form, args) for _ in range(args.runs)]
                print(f"  {'send -> thank-you page loaded':40s} {statistics.median(sends):6.0f}ms")
            browser.close()
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
