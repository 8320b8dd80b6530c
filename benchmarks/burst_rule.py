"""How often the monitoring page's burst rule cries wolf, and what it catches.

    python benchmarks/burst_rule.py [--desks 200] [--seed 2026]

Simulates desks open 8 office hours a day for 20 days with Poisson arrivals at 2 to 60 responses
an hour, the first hour of each day a rush at 1x, 2x or 3x that rate, and prints the share of
desks the rule (``survey.services.rounds.monitoring.BURST_RULE``) flags: false alarms, since nothing
was stuffed. Then injects one burst of k responses within 5 minutes into otherwise ordinary
desks and prints the share caught. Also prints the seconds the rule takes on one desk's
100,000 responses, and the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from survey.services.rounds.monitoring import BURST_RULE, burst_windows

RATES = (2, 6, 14, 30, 60)
DAY = 86_400.0
OPENS = 7_200.0  # 09:00 in Vietnam, as seconds after midnight UTC


def desk(rng: np.random.Generator, per_hour: float, rush: float, days: int = 20) -> np.ndarray:
    """Sorted arrival times (seconds) of one desk."""
    parts = []
    for d in range(days):
        start = d * DAY + OPENS
        parts.append(start + rng.uniform(0, 3600, rng.poisson(per_hour * rush)))
        parts.append(start + 3600 + rng.uniform(0, 7 * 3600, rng.poisson(per_hour * 7)))
    return np.sort(np.concatenate(parts))


def flagged(times: np.ndarray) -> bool:
    return bool(burst_windows(times, BURST_RULE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--desks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(describe())
    print(f"rule: {BURST_RULE}")
    print(f"\nfalse alarms: share of {args.desks} honest desks flagged")
    print("rush hour x  " + "  ".join(f"{r:>5}/h" for r in RATES))
    for rush in (1.0, 2.0, 3.0):
        shares = [
            sum(flagged(desk(rng, r, rush)) for _ in range(args.desks)) / args.desks for r in RATES
        ]
        print(f"{rush:>11.0f}  " + "  ".join(f"{s:>7.3f}" for s in shares))

    print(f"\ndetection: share of {args.desks // 2} desks with k responses stuffed in 5 minutes")
    print("k            " + "  ".join(f"{r:>5}/h" for r in RATES))
    for k in (10, 15, 20, 30, 50):
        shares = []
        for r in RATES:
            hits = 0
            for _ in range(args.desks // 2):
                stuffed = 5 * DAY + OPENS + 4 * 3600 + rng.uniform(0, 300, k)
                hits += flagged(np.sort(np.concatenate([desk(rng, r, 1.0), stuffed])))
            shares.append(hits / (args.desks // 2))
        print(f"{k:>11}  " + "  ".join(f"{s:>7.3f}" for s in shares))

    big = np.sort(rng.uniform(0, 60 * DAY, 100_000))
    started = time.perf_counter()
    burst_windows(big, BURST_RULE)
    print(f"\none desk with 100,000 responses: {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
