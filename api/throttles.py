"""Per-token request budgets: a fixed-window counter in the cache (Redis when configured).

Each token gets ``DEFAULT_THROTTLE_RATES["api"]`` requests per period, and
the events endpoint its own ``"events"`` budget; past it the API answers 429 with
``Retry-After``. A batch of events counts as one request.
"""

import time
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from api import cache as api_cache

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` -> ``(600, 60)``: requests allowed and the window in seconds."""
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0]]


@dataclass(frozen=True)
class Window:
    """The current counting window of a scope's budget."""

    scope: str
    limit: int
    period: int
    number: int

    def key(self, who: str) -> str:
        return f"api-throttle:{self.scope}:{who}:{self.number}"


def current_window(scope: str | None, now: float | None = None) -> Window:
    scope = scope or "api"
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope) or api_settings.DEFAULT_THROTTLE_RATES["api"]
    limit, period = parse_rate(rate)
    return Window(scope=scope, limit=limit, period=period, number=int((now or time.time()) // period))


class TokenRateThrottle(BaseThrottle):
    """Counts per token; the token authentication counts the hit in the same round trip as its
    cache read and leaves ``request.throttle_counted``. Other logins count per user here."""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True  # unauthenticated calls are refused before they cost anything
        now = time.time()
        window = current_window(getattr(view, "throttle_scope", None), now)
        counted = getattr(request, "throttle_counted", None)
        if counted is not None and counted[0] == window:
            used = counted[1]
        else:
            used = api_cache.count_hit(window.key(f"user-{request.user.pk}"), timeout=window.period + 1)
        limit, period = window.limit, window.period
        if used > limit:
            self.wait_seconds = (window.number + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds
