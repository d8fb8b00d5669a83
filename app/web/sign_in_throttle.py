"""Sign-in throttling: failed attempts are counted per account and per client address, and
once either count is over its limit every attempt is refused, the right password included,
until the oldest failure leaves the window.

The account key is the normalised email whether or not such a user exists, so an unknown
address is throttled exactly like a known one and the answers cannot tell them apart.

The counts are moving windows of the `limits` library, in Redis when REDIS_URL is set (every
web process shares them), else in this process's memory. Only the sign-in POST touches them:
an app-wide rate limiter ran its hooks on every request, a tenth of an API event's time.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

from flask import Flask, current_app, make_response, render_template, request
from flask.wrappers import Response
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.config import current_settings
from app.services.accounts import normalise_email

FAILED = 401  # the status of a refused sign-in: only those are counted
KEY_PREFIX = "penguinmails"
MEMORY_SECONDS = 30
"""After Redis fails, how long counting goes on in memory before Redis is tried again."""

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Windows:
    """The app's moving windows: in Redis (or memory), and in memory for a while whenever
    Redis fails, so that sign-in never fails because the counter store is away."""

    def __init__(self, storage_uri: str) -> None:
        shared = storage_from_string(storage_uri, wrap_exceptions=True)
        self._shared = MovingWindowRateLimiter(shared)
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared_again_at = 0.0

    def allows(self, limit: RateLimitItem, key: str) -> bool:
        return self._run(lambda window: window.test(limit, KEY_PREFIX, key))

    def count(self, limit: RateLimitItem, key: str) -> None:
        self._run(lambda window: window.hit(limit, KEY_PREFIX, key))

    def reset_time(self, limit: RateLimitItem, key: str) -> float:
        """When the oldest failure in the window leaves it (epoch seconds)."""
        return self._run(lambda window: window.get_window_stats(limit, KEY_PREFIX, key).reset_time)

    def _run(self, use: Callable[[MovingWindowRateLimiter], T]) -> T:
        if time.monotonic() >= self._shared_again_at:
            try:
                return use(self._shared)
            except StorageError as exc:
                log.warning(
                    "sign-in counts unreachable (%s): counting in memory for %d s",
                    exc.storage_error,
                    MEMORY_SECONDS,
                )
                self._shared_again_at = time.monotonic() + MEMORY_SECONDS
        return use(self._memory)


def init_sign_in_throttle(app: Flask) -> None:
    """Counts in Redis when REDIS_URL is set, so every web process shares them; otherwise in
    this process's memory (the embedded mode has one process)."""
    app.extensions["sign_in_windows"] = _Windows(app.config.get("REDIS_URL") or "memory://")


@lru_cache(maxsize=16)
def _limit(text: str) -> RateLimitItem:
    return parse(text)


def _account_key() -> str:
    """A digest, not the address: Redis keys stay short and name no one."""
    email = normalise_email(request.form.get("email", ""))
    return "sign-in-account:" + hashlib.sha256(email.encode()).hexdigest()


def _address_key() -> str:
    return "sign-in-address:" + (request.remote_addr or "127.0.0.1")


def _throttled_page(reset_time: float) -> Response:
    """The sign-in page again, with a 429 that says how long to wait."""
    wait = max(1, math.ceil(reset_time - time.time()))  # the oldest failure expires
    minutes = math.ceil(wait / 60)
    error = (
        "Too many failed sign-in attempts. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )
    email = request.form.get("email", "")
    page = render_template("auth/sign_in.html", error=error, email=email)
    return Response(page, status=429, headers={"Retry-After": str(wait)})


def throttle_sign_in(view: Callable[..., Any]) -> Callable[..., Any]:
    """Both limits on the sign-in POST; the limits are read from the settings per request."""

    @wraps(view)
    def throttled(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return view(*args, **kwargs)
        settings = current_settings()
        counted = (
            (_limit(settings.sign_in_account_limit), _account_key()),
            (_limit(settings.sign_in_address_limit), _address_key()),
        )
        windows: _Windows = current_app.extensions["sign_in_windows"]
        for limit, key in counted:
            if not windows.allows(limit, key):
                return _throttled_page(windows.reset_time(limit, key))
        response = make_response(view(*args, **kwargs))
        if response.status_code == FAILED:
            for limit, key in counted:
                windows.count(limit, key)
        return response

    return throttled
