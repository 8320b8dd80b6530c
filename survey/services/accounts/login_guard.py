"""Login throttling: after repeated failures an account (and, separately, a client network) is
locked for a while, every failure and lock is audited, and the counts live in the rate-limit
storage so that all app servers share them (Redis in production)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from limits import RateLimitItemPerMinute

from survey.services.audit import record_event
from survey.services.ratelimits import Counter

# Five wrong passwords for one username in 15 minutes lock it for the rest of the window; a
# network gets more room because an office shares one address.
ACCOUNT_FAILURES = RateLimitItemPerMinute(5, 15)
NETWORK_FAILURES = RateLimitItemPerMinute(30, 15)


@dataclass(frozen=True)
class LoginGuard:
    limiter: Counter
    namespace: str = ""

    def _keys(self, username: str, network: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        name = username.strip().lower()[:64]
        return (self.namespace, "login-user", name), (self.namespace, "login-net", network)

    def locked(self, username: str, network: str) -> bool:
        account, net = self._keys(username, network)
        return not (
            self.limiter.test(ACCOUNT_FAILURES, *account)
            and self.limiter.test(NETWORK_FAILURES, *net)
        )

    def failed(self, username: str, network: str, *, now: datetime) -> None:
        account, net = self._keys(username, network)
        self.limiter.hit(ACCOUNT_FAILURES, *account)
        self.limiter.hit(NETWORK_FAILURES, *net)
        now_locked = self.locked(username, network)
        record_event(
            action="login.locked" if now_locked else "login.failed",
            entity_type="login",
            entity_id=username.strip().lower()[:64] or "-",
            now=now,
        )

    def succeeded(self, username: str, network: str) -> None:
        account, _net = self._keys(username, network)
        self.limiter.clear(ACCOUNT_FAILURES, *account)
