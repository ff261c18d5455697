"""Per-token request budgets: a fixed-window counter in the cache (Redis when configured).

Each token (one per user) gets ``DEFAULT_THROTTLE_RATES["api"]`` requests per period, and
the events endpoint its own ``"events"`` budget; past it the API answers 429 with
``Retry-After``. A batch of events counts as one request.
"""

import time
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


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True  # unauthenticated calls are refused before they cost anything
        scope = getattr(view, "throttle_scope", None) or "api"
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope) or api_settings.DEFAULT_THROTTLE_RATES["api"]
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        key = f"api-throttle:{scope}:{request.user.pk}:{window}"
        used = api_cache.count_hit(key, timeout=period + 1)
        if used > limit:
            self.wait_seconds = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds
