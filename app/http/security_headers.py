"""Security headers on every response, and a `Server` header that names no versions.

Scripts come only from our own files (no inline script, no eval); styles may be inline
because Drawflow and htmx position elements with them and email previews (a sandboxed
srcdoc iframe, which inherits this policy) are inline-styled HTML with remote images.
No other site may frame the app, except the hosted form pages, which are made to be embedded.
"""

from __future__ import annotations

from functools import cache

from flask import Response, request
from werkzeug.serving import WSGIRequestHandler

SERVER_NAME = "PenguinMails"
# The hosted form's pages: embeddable anywhere, and they may redirect after a submission.
EMBEDDABLE_ENDPOINTS = frozenset({"web.public_form", "web.submit_public_form"})

_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: https: http:",
    "object-src 'none'",
    "base-uri 'none'",
)
_NOT_EMBEDDABLE = ("form-action 'self'", "frame-ancestors 'none'")


def content_security_policy(embeddable: bool) -> str:
    return "; ".join(_POLICY if embeddable else (*_POLICY, *_NOT_EMBEDDABLE))


@cache
def security_headers(embeddable: bool) -> tuple[tuple[str, str], ...]:
    """The headers every response carries (a view may have set its own already); made once."""
    headers = (
        ("Content-Security-Policy", content_security_policy(embeddable)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    )
    return headers if embeddable else (*headers, ("X-Frame-Options", "DENY"))


def add_security_headers(response: Response) -> Response:
    """After every request, errors and static files included."""
    headers = response.headers
    for name, value in security_headers(request.endpoint in EMBEDDABLE_ENDPOINTS):
        headers.setdefault(name, value)
    return response


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler for `flask serve`, without its and Python's versions."""

    server_version = SERVER_NAME  # type: ignore[assignment]
    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME
