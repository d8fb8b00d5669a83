"""Sign-in throttling: failed attempts are counted per account and per client address, and
once either count is over its limit every attempt is refused, the right password included,
until the oldest failure leaves the window.

The account key is the normalised email whether or not such a user exists, so an unknown
address is throttled exactly like a known one and the answers cannot tell them apart.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from flask import render_template, request
from flask.wrappers import Response
from flask_limiter import RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address

from app.config import current_settings
from app.extensions import limiter
from app.services.accounts import normalise_email
from app.web import web_bp

FAILED = 401  # the status of a refused sign-in: only those are counted


def _account_key() -> str:
    """A digest, not the address: Redis keys stay short and name no one."""
    email = normalise_email(request.form.get("email", ""))
    return "sign-in-account:" + hashlib.sha256(email.encode()).hexdigest()


def _address_key() -> str:
    return "sign-in-address:" + get_remote_address()


def _failed(response: Response) -> bool:
    return response.status_code == FAILED


def _throttled_page(limit: RequestLimit) -> Response:
    """The sign-in page again, with a 429 that says how long to wait."""
    wait = max(1, math.ceil(limit.window.reset_time - time.time()))  # oldest failure expires
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

    def failed_sign_ins(limit: Callable[[], str], key_func: Callable[[], str]) -> Any:
        return limiter.limit(
            limit,
            key_func=key_func,
            methods=["POST"],
            deduct_when=_failed,
            on_breach=_throttled_page,
        )

    per_account = failed_sign_ins(lambda: current_settings().sign_in_account_limit, _account_key)
    per_address = failed_sign_ins(lambda: current_settings().sign_in_address_limit, _address_key)
    return per_account(per_address(view))


@web_bp.errorhandler(RateLimitExceeded)
def _rate_limited(error: RateLimitExceeded) -> Response:
    """The page built by the breached limit, ahead of any app-wide error page."""
    return error.get_response()
