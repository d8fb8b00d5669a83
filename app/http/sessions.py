"""Sessions: signed cookies for the pages; none for the JSON API.

Why: API requests authenticate with a token and never read or write a session, yet opening
one built a cookie serializer and a session per request, a twentieth of an API event's time.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface


class NoSessionUnder(SecureCookieSessionInterface):
    """The signed-cookie session, except under one URL prefix (the API's), where a request
    has a null session, which refuses writes and is never saved. By path: Flask opens the
    session before it matches the URL to a blueprint."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/") + "/"

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(self.prefix):
            return self.make_null_session(app)
        return super().open_session(app, request)
