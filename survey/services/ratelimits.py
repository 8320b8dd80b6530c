"""Counting against rate limits in the shared storage (Redis in production) without letting an
outage of that storage refuse anybody: a citizen's answers, a sign-in or an API call would
otherwise fail with the counter. While the storage cannot be reached, each app server counts in
its own memory (and says so in its log), so every limit still holds, per server, until the
storage answers again; it is tried again every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from limits import RateLimitItem
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from survey.extensions import limiter

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

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._count(lambda strategy: strategy.hit(item, *identifiers))

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        return self._count(lambda strategy: strategy.test(item, *identifiers))

    def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        self._count(lambda strategy: strategy.clear(item, *identifiers))

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> tuple[float, int]:
        stats = self._count(lambda strategy: strategy.get_window_stats(item, *identifiers))
        return stats.reset_time, stats.remaining

    def hit_all(self, hits: Sequence[Hit]) -> bool:
        """Count one hit against each limit; True when every one is within its limit."""
        return self._count(lambda strategy: _hit_all(strategy, hits))


def _hit_all(strategy: RateLimiter, hits: Sequence[Hit]) -> bool:
    storage = strategy.storage
    if isinstance(strategy, FixedWindowRateLimiter) and isinstance(storage, RedisStorage):
        # What FixedWindowRateLimiter.hit does for each limit (the library's own counting
        # script), all in one round trip to Redis instead of one each.
        pipe: Any = storage.storage.pipeline(transaction=False)
        for item, identifiers in hits:
            key = storage.prefixed_key(item.key_for(*identifiers))
            storage.lua_incr_expire([key], [item.get_expiry(), 1], client=pipe)
        counts = pipe.execute()
        return all(int(n) <= item.amount for n, (item, _) in zip(counts, hits, strict=True))
    within = [strategy.hit(item, *identifiers) for item, identifiers in hits]
    return all(within)


def counter() -> Counter:
    """The application's counter (Flask-Limiter's storage, from RATELIMIT_STORAGE_URI)."""
    return Counter(limiter.limiter)
