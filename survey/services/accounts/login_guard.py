"""Login throttling that slows a guesser down without letting anyone lock somebody else out.

The rule, counted per pair of account (the username typed) and client network (/24 for IPv4,
/64 for IPv6, as ``client_network`` gives it):

* After 5 wrong passwords for an account from one network within a day, that pair waits 1 minute
  before its next attempt; each further failure doubles the wait (2, 4, 8 minutes) up to 15
  minutes. While it waits, even the right password from that network is refused unread, so the
  guessing cannot go on.
* No other pair is held up: the right password from a network that has not failed for that
  account always signs in, whatever other networks did. Guessing at the administrator from
  anywhere cannot lock the administrator out of the office.
* A network with 30 or more failures within an hour, across any accounts, is spraying: each
  account it has already failed on then waits from its first failure (1 minute, doubling up to
  15). Accounts it has not failed on are not held up, so colleagues behind the same office
  address still sign in.
* Signing in clears the pair's count; a wait refuses without counting a failure.

Every failure is audited as ``login.failed``, or ``login.locked`` when it starts a wait. The
counts live in the rate-limit storage (``survey.services.ratelimits``), so all app servers share
them (Redis in production)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from limits import RateLimitItemPerDay, RateLimitItemPerHour, RateLimitItemPerMinute

from survey.services.audit import record_event
from survey.services.ratelimits import Counter

PAIR_FAILURES_BEFORE_WAIT = 5
NETWORK_FAILURES_FOR_SPRAYING = 30
FIRST_WAIT_SECONDS = 60
LONGEST_WAIT_SECONDS = 15 * 60

# Counters only: their amounts are never reached, the count is read and compared above.
PAIR_FAILURES = RateLimitItemPerDay(1_000_000)
NETWORK_FAILURES = RateLimitItemPerHour(1_000_000)
# Holds the Unix time of the pair's last failure as its count (cleared, then counted up by that
# many): the storage has counters only, and the time must be the caller's ``now``. It expires
# with the longest wait, after which it no longer matters.
LAST_FAILURE = RateLimitItemPerMinute(2**62, LONGEST_WAIT_SECONDS // 60)


def wait_seconds(failures: int, threshold: int) -> int:
    """The wait after ``failures`` failures when waiting starts at ``threshold``."""
    if failures < threshold:
        return 0
    return min(FIRST_WAIT_SECONDS * 2 ** min(failures - threshold, 8), LONGEST_WAIT_SECONDS)


def _seconds(now: datetime) -> int:
    return math.floor(now.replace(tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class LoginGuard:
    limiter: Counter
    namespace: str = ""

    def _keys(self, username: str, network: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        name = username.strip().lower()[:64]
        return (self.namespace, "login-pair", network, name), (self.namespace, "login-net", network)

    def wait(self, username: str, network: str, *, now: datetime) -> int:
        """Seconds this account must wait before trying again from ``network``; 0 to go on."""
        pair, net = self._keys(username, network)
        failures = self.limiter.count(PAIR_FAILURES, *pair)
        if failures == 0:
            return 0
        spraying = self.limiter.count(NETWORK_FAILURES, *net) >= NETWORK_FAILURES_FOR_SPRAYING
        threshold = 1 if spraying else PAIR_FAILURES_BEFORE_WAIT
        last = self.limiter.count(LAST_FAILURE, *pair)
        return max(0, last + wait_seconds(failures, threshold) - _seconds(now))

    def failed(self, username: str, network: str, *, now: datetime) -> None:
        pair, net = self._keys(username, network)
        self.limiter.hit(PAIR_FAILURES, *pair)
        self.limiter.hit(NETWORK_FAILURES, *net)
        self.limiter.clear(LAST_FAILURE, *pair)
        self.limiter.hit(LAST_FAILURE, *pair, cost=_seconds(now))
        record_event(
            action="login.locked" if self.wait(username, network, now=now) else "login.failed",
            entity_type="login",
            entity_id=username.strip().lower()[:64] or "-",
            now=now,
            note=f"from {network}",
        )

    def succeeded(self, username: str, network: str) -> None:
        pair, _net = self._keys(username, network)
        self.limiter.clear(PAIR_FAILURES, *pair)
        self.limiter.clear(LAST_FAILURE, *pair)
