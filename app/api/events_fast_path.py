"""POST /api/events answered without Flask's request cycle, when the request needs none of it.

Why: under gunicorn a single event cost the machine about 2.4 ms, and Flask's request
cycle (the request context, URL matching, the hooks, finishing the response) was a bigger
share of it than storing the event. This WSGI layer in front of Flask answers the ordinary
request itself: a JSON body of the usual size with no escaped NUL or surrogate, a valid
token, valid events and nothing that the one statement (`events_postgres`, PostgreSQL
only) leaves to the general path. Everything else goes to Flask as it came (the body it
read is handed on), and Flask answers it as it always has: every error, refusal and
fallback has one implementation, in Flask. It hands over before anything is written; an
exception while storing gets Flask's error handlers (a database that is down is a 503).

What each of Flask's request hooks does, and why an ordinary events request needs no more
than this (`tests/api/test_events_fast_path.py` fails when a hook is added or removed):
- `csrf_protect`: the API is exempt;
- `refuse_unstorable_text`: no query string, and no body that may hold a NUL or a lone
  surrogate (`may_hold_unstorable`), comes here;
- `_set_policy`/`_restore_policy`: only saving steps reads the call-target policy;
- `_authenticate`: the token is looked up here the same way (`token_holder`);
- `_update_remember_cookie`: API requests have no session;
- `add_security_headers`: the same headers (`security_headers`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, has_app_context

from app.api import bearer_token
from app.http.nul_bytes import may_hold_unstorable
from app.http.security_headers import security_headers
from app.services import events as event_service
from app.services.accounts import AccountError, token_holder

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PATH = "/api/events"


class EventsFastPath:
    """WSGI middleware: `app.wsgi_app = EventsFastPath(app, app.wsgi_app)`."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app  # Flask's own request cycle

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if not self._ordinary(environ):
            return self.wsgi_app(environ, start_response)
        length = int(environ["CONTENT_LENGTH"])
        body = environ["wsgi.input"].read(length)
        response = None
        if len(body) == length and not may_hold_unstorable(body):
            with self._app_context():
                try:
                    response = self._answer(environ, body)
                except Exception as exc:  # answered by Flask's error handlers
                    response = self._flask_answer_to(environ, exc)
        if response is None:  # Flask decides, with the body as it came
            environ["wsgi.input"] = io.BytesIO(body)
            return self.wsgi_app(environ, start_response)
        return response(environ, start_response)

    def _app_context(self) -> AbstractContextManager[Any]:
        """The app's context, pushed unless it is already current, as Flask's request
        context does (a test holds one around its requests)."""
        if has_app_context() and current_app._get_current_object() is self.app:
            return nullcontext()
        return self.app.app_context()

    def _ordinary(self, environ: WSGIEnvironment) -> bool:
        """A POST to the events URL with a JSON body of a stated, allowed size and no query."""
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return False
        if environ.get("QUERY_STRING") or environ.get("HTTP_TRANSFER_ENCODING"):
            return False
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        length = environ.get("CONTENT_LENGTH", "")
        if content_type != "application/json" or not _decimal(length):
            return False
        return 0 < int(length) <= self.app.config["MAX_CONTENT_LENGTH"]

    def _answer(self, environ: WSGIEnvironment, body: bytes) -> Response | None:
        """The 202 for events the one statement stored, or None (nothing stored)."""
        now = datetime.now(UTC)
        token = bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
        if token is None:
            return None
        try:
            document = self.app.json.loads(body)
            holder = token_holder(token, now)
        except (ValueError, AccountError):
            return None
        owner = event_service.Owned(holder.workspace_id, holder.tenant_id)
        try:  # a body that is no event or list of them is refused here too
            result = event_service.ingest_in_one_statement(owner, document, now)
        except event_service.EventError:
            return None
        if result is None:
            return None
        response = self.app.json.response(result.to_dict())
        response.status_code = 202
        response.headers.extend(security_headers(embeddable=False))
        return response

    def _flask_answer_to(self, environ: WSGIEnvironment, exc: Exception) -> Any:
        """What Flask answers when the view raises `exc`, as `Flask.full_dispatch_request`
        and `wsgi_app` would: the error handlers, then the after-request hooks."""
        with self.app.request_context(environ):
            try:
                answer = self.app.handle_user_exception(exc)
            except Exception as unhandled:
                return self.app.handle_exception(unhandled)
            return self.app.finalize_request(answer)


def _decimal(text: str) -> bool:
    """ASCII digits, few enough for `int` (`"²".isdigit()` is true, and `int` refuses
    more than 4,300 digits)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()
