"""Security headers on every response, and a `Server` header that names no versions.

Scripts come only from our own files (no inline script, no eval); styles may be inline
because Drawflow and htmx position elements with them and email previews (a sandboxed
srcdoc iframe, which inherits this policy) are inline-styled HTML with remote images.
No other site may frame the app, except the hosted form pages, which are made to be embedded.
"""

from __future__ import annotations

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


def add_security_headers(response: Response) -> Response:
    """After every request, errors and static files included."""
    embeddable = request.endpoint in EMBEDDABLE_ENDPOINTS
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy(embeddable))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if not embeddable:
        headers.setdefault("X-Frame-Options", "DENY")
    return response


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler for `flask serve`, without its and Python's versions."""

    server_version = SERVER_NAME  # type: ignore[assignment]
    sys_version = ""

    def version_string(self) -> str:
        return SERVER_NAME
