"""Counting against rate limits in the shared storage (Redis in production) without letting an
outage of that storage refuse anybody: a citizen's answers, a sign-in or an API call would
otherwise fail with the counter. While the storage cannot be reached, each app server counts in
its own memory (and says so in its log), so every limit still holds, per server, until the
storage answers again; it is tried again every few seconds.

The storage is the ``limits`` library's, from ``RATELIMIT_STORAGE_URI`` (``memory://`` in
development, ``redis://...`` in production) with ``RATELIMIT_STORAGE_OPTIONS``, counted in fixed
windows. Every limit is counted where it applies (the submit path, the sign-in, the API), so no
request hook runs for them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from flask import Flask, current_app
from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SHARED_AFTER_SECONDS = 5.0

# Per shared storage, in this process: until when it is taken as down, and the memory counts.
_down_until: WeakKeyDictionary[Storage, float] = WeakKeyDictionary()
_local: WeakKeyDictionary[Storage, RateLimiter] = WeakKeyDictionary()

Hit = tuple[RateLimitItem, Sequence[str]]


class Counter:
    """The parts of a ``limits`` strategy the app uses, with the fallback described above."""

    def __init__(self, shared: RateLimiter) -> None:
        self.shared = shared

    def _count(self, count: Callable[[RateLimiter], T]) -> T:
        storage = self.shared.storage
        if time.monotonic() >= _down_until.get(storage, 0.0):
            try:
                return count(self.shared)
            except storage.base_exceptions as exc:
                _down_until[storage] = time.monotonic() + RETRY_SHARED_AFTER_SECONDS
                log.warning("rate-limit storage unreachable, counting in this process: %s", exc)
        if storage not in _local:
            _local[storage] = type(self.shared)(MemoryStorage())
        return count(_local[storage])

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return self._count(lambda strategy: strategy.hit(item, *identifiers, cost=cost))

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._count(lambda strategy: strategy.test(item, *identifiers))

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self._count(lambda strategy: strategy.clear(item, *identifiers))

    def count(self, item: RateLimitItem, *identifiers: str) -> int:
        """How much has been counted against ``item`` in its current window."""
        return item.amount - self.get_window_stats(item, *identifiers)[1]

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> tuple[float, int]:
        stats = self._count(lambda strategy: strategy.get_window_stats(item, *identifiers))
        return stats.reset_time, stats.remaining

    def hit_all(self, hits: Sequence[Hit]) -> bool:
        """Count one hit against each limit; True when every one is within its limit."""
        return self._count(lambda strategy: _hit_all(strategy, hits))


# FixedWindowRateLimiter.hit's counting (the ``limits`` library's incr_expire.lua) for several
# keys in one script: KEYS are the counters, ARGV their expiries in seconds; each new counter
# gets its expiry, as the library's own script gives it.
INCR_EXPIRE_ALL = b"""
local counts = {}
for i, key in ipairs(KEYS) do
    local current = redis.call("incrby", key, 1)
    if current == 1 then
        redis.call("expire", key, ARGV[i])
    end
    counts[i] = current
end
return counts
"""
_scripts: WeakKeyDictionary[Storage, Any] = WeakKeyDictionary()


def _hit_all(strategy: RateLimiter, hits: Sequence[Hit]) -> bool:
    storage = strategy.storage
    if isinstance(strategy, FixedWindowRateLimiter) and isinstance(storage, RedisStorage):
        # One round trip to Redis for all the limits: EVALSHA of the script above (redis-py
        # loads it once when Redis does not know it yet). A pipeline of the library's script
        # per limit cost two, as redis-py asks SCRIPT EXISTS before every such pipeline.
        if storage not in _scripts:
            _scripts[storage] = storage.get_connection().register_script(INCR_EXPIRE_ALL)
        keys = [storage.prefixed_key(item.key_for(*identifiers)) for item, identifiers in hits]
        counts = _scripts[storage](keys=keys, args=[item.get_expiry() for item, _ in hits])
        return all(int(n) <= item.amount for n, (item, _) in zip(counts, hits, strict=True))
    within = [strategy.hit(item, *identifiers) for item, identifiers in hits]
    return all(within)


EXTENSION = "hailong.ratelimits"


def init_app(app: Flask) -> None:
    """Bind the application's counter to its storage (a Redis storage connects on first use)."""
    storage = storage_from_string(
        app.config["RATELIMIT_STORAGE_URI"], **app.config.get("RATELIMIT_STORAGE_OPTIONS", {})
    )
    app.extensions[EXTENSION] = Counter(FixedWindowRateLimiter(storage))


def counter() -> Counter:
    """The application's counter."""
    counter_: Counter = current_app.extensions[EXTENSION]
    return counter_
