"""Stratified simple random sampling without replacement for sampled rounds.

A sampled round (shared/domain.md, "Probability-sample rounds") draws dossiers at random from the
frame of completed dossiers, stratified by unit x service area. Stratum h holds N_h dossiers and
receives n_h of them; within a stratum every dossier has the same inclusion probability

    pi_h = n_h / N_h

(Cochran 1977, ch. 5; Sarndal, Swensson and Wretman 1992, section 3.7), and the design weight
is 1 / pi_h before any nonresponse adjustment.

Allocation of a total n to the strata (Cochran 1977, section 5.5; Lohr 2022, section 3.4):

- proportional: n_h proportional to N_h, rounded by the largest-remainder (Hamilton) method so
  that the n_h sum to n exactly;
- equal: n_h = n / H, rounded the same way;
- minimum per unit: every unit (a group of strata) first receives ``minimum`` dossiers (or all of
  its dossiers when it has fewer), spread over its strata in proportion to N_h; the rest of n is
  then allocated in proportion to N_h.

Every n_h is capped at N_h; what a capped stratum cannot take goes to the others by the same rule.
Ties between equal remainders go to the stratum that sorts first, so the allocation is a function
of its inputs only.

The draw is reproducible: strata are visited in sorted order and, within a stratum, the rows in
the order the caller gives (the frame sorted by its keyed code hash), with one
``numpy.random.Generator`` seeded by the recorded seed.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class Allocation(enum.StrEnum):
    PROPORTIONAL = "proportional"
    EQUAL = "equal"
    MINIMUM = "minimum"


@dataclass(frozen=True)
class Sample:
    """A drawn sample: row positions in the frame, and per stratum N_h, n_h and pi_h."""

    seed: int
    rows: tuple[int, ...]
    population: Mapping[Any, int]
    allocation: Mapping[Any, int]

    def inclusion_probability(self, stratum: Any) -> float:
        """pi_h = n_h / N_h."""
        return self.allocation[stratum] / self.population[stratum]


def _sorted_keys(keys: Sequence[Any]) -> list[Any]:
    try:
        return sorted(keys)
    except TypeError as exc:
        raise ValueError("stratum keys must be comparable with each other") from exc


def _check_sizes(sizes: Mapping[Any, int]) -> None:
    if not sizes:
        raise ValueError("the frame has no strata")
    for key, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, int | np.integer):
            raise ValueError(f"stratum {key!r}: size must be a whole number")
        if size < 1:
            raise ValueError(f"stratum {key!r}: size must be at least 1, got {size}")


def _largest_remainder(
    keys: list[Any], weights: Mapping[Any, float], caps: Mapping[Any, int], total: int
) -> dict[Any, int]:
    """Split ``total`` in proportion to ``weights`` with n_h <= caps[h], by largest remainder.

    Strata whose proportional share reaches their cap get the cap and leave the pool; the rest
    is shared again among the others until no share exceeds its cap (Hamilton's method with caps).
    """
    result = dict.fromkeys(keys, 0)
    open_keys = [k for k in keys if caps[k] > 0 and weights[k] > 0]
    remaining = total
    while remaining > 0 and open_keys:
        weight_sum = float(sum(weights[k] for k in open_keys))
        quotas = {k: remaining * weights[k] / weight_sum for k in open_keys}
        capped = [k for k in open_keys if quotas[k] >= caps[k]]
        if capped:
            for k in capped:
                result[k] = caps[k]
                remaining -= caps[k]
            open_keys = [k for k in open_keys if k not in set(capped)]
            continue
        floors = {k: int(np.floor(quotas[k])) for k in open_keys}
        left = remaining - sum(floors.values())
        order = sorted(
            range(len(open_keys)),
            key=lambda i: (-(quotas[open_keys[i]] - floors[open_keys[i]]), i),
        )
        for i in order[:left]:
            floors[open_keys[i]] += 1
        for k in open_keys:
            result[k] = floors[k]
        remaining = 0
    if remaining > 0:
        raise ValueError("the strata cannot hold the requested total")
    return result


def allocate(
    sizes: Mapping[Any, int],
    total: int,
    method: Allocation | str,
    *,
    minimum: int = 0,
    groups: Mapping[Any, Hashable] | None = None,
) -> dict[Any, int]:
    """Sample sizes n_h per stratum, summing to ``total``, with 0 <= n_h <= N_h.

    ``sizes`` maps each stratum to N_h. For ``Allocation.MINIMUM``, ``groups`` maps each stratum
    to its unit (each stratum is its own unit when omitted) and every unit g first receives
    min(minimum, N_g).
    """
    try:
        method = Allocation(method)
    except ValueError as exc:
        raise ValueError(f"unknown allocation method: {method!r}") from exc
    _check_sizes(sizes)
    if isinstance(total, bool) or not isinstance(total, int | np.integer):
        raise ValueError("the total sample size must be a whole number")
    if total < 1:
        raise ValueError(f"the total sample size must be at least 1, got {total}")
    frame_size = sum(sizes.values())
    if total > frame_size:
        raise ValueError(f"the total sample size {total} exceeds the frame size {frame_size}")
    keys = _sorted_keys(list(sizes))
    caps = {k: int(sizes[k]) for k in keys}
    if method is Allocation.PROPORTIONAL:
        return _largest_remainder(keys, {k: float(sizes[k]) for k in keys}, caps, total)
    if method is Allocation.EQUAL:
        return _largest_remainder(keys, dict.fromkeys(keys, 1.0), caps, total)
    if minimum < 0:
        raise ValueError(f"the minimum per unit must not be negative, got {minimum}")
    group_of = {k: (groups[k] if groups is not None else k) for k in keys}
    if groups is not None and set(groups) != set(keys):
        raise ValueError("every stratum needs exactly one unit")
    floor = dict.fromkeys(keys, 0)
    for group in dict.fromkeys(group_of[k] for k in keys):
        members = [k for k in keys if group_of[k] == group]
        group_size = sum(caps[k] for k in members)
        part = _largest_remainder(
            members,
            {k: float(sizes[k]) for k in members},
            caps,
            min(minimum, group_size),
        )
        floor.update(part)
    floor_total = sum(floor.values())
    if floor_total > total:
        raise ValueError(
            f"the minimum per unit needs {floor_total} dossiers, more than the total {total}"
        )
    rest = _largest_remainder(
        keys,
        {k: float(sizes[k]) for k in keys},
        {k: caps[k] - floor[k] for k in keys},
        total - floor_total,
    )
    return {k: floor[k] + rest[k] for k in keys}


def draw_stratified(strata: Sequence[Any], allocation: Mapping[Any, int], seed: int) -> Sample:
    """Draw n_h rows without replacement from each stratum, with a Generator seeded by ``seed``.

    ``strata`` gives each frame row's stratum, in frame order (sorted by code hash); the result
    lists the positions of the sampled rows in that order.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError("the seed must be a non-negative whole number")
    positions: dict[Any, list[int]] = {}
    for row, stratum in enumerate(strata):
        positions.setdefault(stratum, []).append(row)
    population = {k: len(v) for k, v in positions.items()}
    _check_sizes(population)
    unknown = set(allocation) - set(population)
    if unknown:
        raise ValueError(f"allocation names strata absent from the frame: {sorted(unknown)!r}")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    keys = _sorted_keys(list(population))
    for key in keys:
        n_h = allocation.get(key, 0)
        if n_h < 0 or n_h > population[key]:
            raise ValueError(f"stratum {key!r}: n_h = {n_h} is outside 0..{population[key]}")
        if n_h:
            rows = np.asarray(positions[key])
            chosen.extend(int(r) for r in rng.choice(rows, size=n_h, replace=False))
    return Sample(
        seed=int(seed),
        rows=tuple(sorted(chosen)),
        population=population,
        allocation={k: int(allocation.get(k, 0)) for k in keys},
    )


@dataclass(frozen=True)
class Dispositions:
    """What came of a stratum's (or a whole sample's) invitations, in AAPOR's terms (AAPOR,
    Standard Definitions, 10th edition 2023). Every sampled dossier is eligible: it was
    completed in the period, so there is no unknown eligibility to estimate (e = 1).

    ``complete`` (I) and ``partial`` (P) are answered invitations whose response has at least
    80 % and 50-80 % of its scored items answered; ``break_off`` are answered with fewer (a
    refusal in the rates' terms, AAPOR 2.12); ``refused`` (R); ``noncontact`` (NC: the letter
    came back undeliverable); ``no_reply`` (the letter went out and nothing came back, also a
    noncontact for the rates)."""

    sampled: int
    complete: int = 0
    partial: int = 0
    break_off: int = 0
    refused: int = 0
    noncontact: int = 0

    @property
    def no_reply(self) -> int:
        return (
            self.sampled
            - self.complete
            - self.partial
            - self.break_off
            - self.refused
            - self.noncontact
        )

    @property
    def rr1(self) -> float:
        """Response rate 1: I / ((I + P) + (R + NC + O) + (UH + UO)), here I / sampled."""
        return self.complete / self.sampled if self.sampled else float("nan")

    @property
    def rr2(self) -> float:
        """Response rate 2: (I + P) / ((I + P) + (R + NC + O) + (UH + UO))."""
        return (self.complete + self.partial) / self.sampled if self.sampled else float("nan")

    def __add__(self, other: Dispositions) -> Dispositions:
        return Dispositions(
            self.sampled + other.sampled,
            self.complete + other.complete,
            self.partial + other.partial,
            self.break_off + other.break_off,
            self.refused + other.refused,
            self.noncontact + other.noncontact,
        )


COMPLETE_SHARE = 0.8  # of the scored items answered: a complete interview (AAPOR)
PARTIAL_SHARE = 0.5  # at least this, below COMPLETE_SHARE: a partial one


def answer_completeness(answered: int, items: int) -> str:
    """'complete', 'partial' or 'break_off' for a response with ``answered`` of ``items``
    scored items answered ('not applicable' counts as an answer)."""
    share = answered / items if items else 1.0
    if share >= COMPLETE_SHARE:
        return "complete"
    return "partial" if share >= PARTIAL_SHARE else "break_off"
