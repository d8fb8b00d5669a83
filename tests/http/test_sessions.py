"""API requests open no session (they authenticate by token); pages keep signed cookies."""

from __future__ import annotations

from flask import session
from flask.sessions import NullSession, SecureCookieSession

from tests.web.client import PASSWORD, Web
from tests.web.test_sign_in_throttle import is_signed_in, make_user


def session_during(app, path: str, method: str = "POST") -> object:
    """The session Flask opens for a request to this path."""
    with app.test_request_context(path, method=method):
        return session._get_current_object()  # type: ignore[attr-defined]


def test_an_api_request_has_a_null_session_and_a_page_a_signed_cookie_one(app):
    assert isinstance(session_during(app, "/api/events"), NullSession)
    assert isinstance(session_during(app, "/api/sequences", "GET"), NullSession)
    page_session = session_during(app, "/sign-in", "GET")
    assert isinstance(page_session, SecureCookieSession)
    assert not isinstance(page_session, NullSession)


def test_signing_in_still_keeps_the_session_across_pages(app):
    make_user(app, "ops@acme.test")
    web = Web(app)
    assert web.sign_in("ops@acme.test", PASSWORD).status_code == 302
    assert is_signed_in(web)
