"""The HTTP layer every request passes through: body limits, strict JSON, refused NUL bytes
and lone surrogates, errors answered as JSON or HTML, and security headers on every
response. (On PostgreSQL an ordinary events request is answered in front of Flask, within
the same limits and with the same headers: `api/events_fast_path.py`.)"""

from __future__ import annotations

from flask import Flask

from app.http.errors import install_error_handlers
from app.http.json_input import StrictJSONProvider
from app.http.limits import LimitedRequest
from app.http.nul_bytes import refuse_unstorable_text
from app.http.security_headers import add_security_headers


def install_http_layer(app: Flask) -> None:
    """Wire the layer into the app; create_app calls this once."""
    app.request_class = LimitedRequest
    app.json = StrictJSONProvider(app)
    app.before_request(refuse_unstorable_text)
    app.after_request(add_security_headers)
    install_error_handlers(app)
