"""POST /api/events on PostgreSQL: an ordinary request is answered without Flask's request
cycle (`api/events_fast_path.py`); every other one goes to Flask and gets its answer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask, request, request_started
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response

from app.api.events_fast_path import EventsFastPath
from app.extensions import db
from app.models import ContactEvent
from app.services import events_postgres
from tests.conftest import api_for

LOGIN = {"contact": {"email": "ada@example.com"}, "event": "user_login"}


@contextmanager
def flask_requests(app: Flask) -> Iterator[list[str]]:
    """The paths of the requests that went through Flask's request cycle meanwhile."""
    seen: list[str] = []

    def started(sender: Flask, **extra: Any) -> None:
        seen.append(request.path)

    request_started.connect(started, app)
    try:
        yield seen
    finally:
        request_started.disconnect(started, app)


def stored() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(ContactEvent)) or 0


def flask_only(app: Flask) -> Client:
    """A client of Flask's own request cycle, without the fast path in front of it."""
    assert isinstance(app.wsgi_app, EventsFastPath)
    return Client(app.wsgi_app.wsgi_app, Response)


def shape(response: Any, key: str = "") -> tuple[int, list[tuple[str, str]], Any]:
    """Status, headers but the length, and the JSON body with each event id as its type
    (and the client ids' `key` as `{k}`)."""
    body = json.loads(response.get_data(as_text=True).replace(key or "{k}", "{k}"))
    for event in body.get("events", []) if isinstance(body, dict) else []:
        event["id"] = type(event["id"]).__name__
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Content-Length")
    return response.status_code, headers, body


def test_an_ordinary_request_is_answered_without_flask_s_request_cycle(pg_app):
    api = api_for(pg_app, "Fast")
    batch = [{**LOGIN, "id": f"evt-{i}"} for i in range(3)] + [LOGIN]
    with flask_requests(pg_app) as seen:
        assert api.post("/api/events", json={**LOGIN, "id": "one"}).status_code == 202
        answer = api.post("/api/events", json=batch)
    assert seen == []
    assert answer.status_code == 202 and answer.json["accepted"] == 4
    assert stored() == 5


def test_the_fast_path_answers_what_flask_answers(pg_app):
    api = api_for(pg_app, "Same")
    headers = {"Authorization": f"Bearer {api.token}"}
    cases = [
        {**LOGIN, "id": "{k}-1", "properties": {"plan": "pro", "note": 'say "hi" \u00e9'}},
        {**LOGIN, "occurred_at": "2026-12-01T09:30:00+01:00"},
        [  # a new contact, a repeat inside the batch, and an id stored by an earlier request
            {"contact": {"email": "{k}-new@example.com"}, "event": "signed_up", "id": "{k}-2"},
            {"contact": {"email": "{k}-new@example.com"}, "event": "signed_up", "id": "{k}-2"},
            {**LOGIN, "id": "{k}-1", "properties": {"plan": "pro", "note": 'say "hi" \u00e9'}},
        ],
    ]
    for case in cases:
        with flask_requests(pg_app) as seen:
            fast = api.client.post(
                "/api/events",
                data=json.dumps(case).replace("{k}", "fast"),
                headers=headers,
                content_type="application/json",
            )
        assert seen == []  # the fast path answered
        plain = flask_only(pg_app).post(
            "/api/events",
            data=json.dumps(case).replace("{k}", "flask"),
            headers=headers,
            content_type="application/json",
        )
        assert fast.status_code == 202
        assert shape(fast, "fast") == shape(plain, "flask")
    assert stored() == 6


def nested(depth: int) -> str:
    return '{"contact": {"email": "a@example.com"}, "event": "x", "properties": ' + (
        '{"a": ' * depth + "1" + "}" * depth + "}"
    )


OTHER_REQUESTS = {
    "no token": ({"json": LOGIN, "token": None}, 401),
    "an unknown token": ({"json": LOGIN, "token": "pm_nope"}, 401),
    "not JSON": ({"data": "{nope", "content_type": "application/json"}, 400),
    "NaN": ({"data": '{"event": NaN}', "content_type": "application/json"}, 400),
    "nested too deep": ({"data": nested(80), "content_type": "application/json"}, 400),
    "an escaped NUL": (
        {"data": json.dumps({**LOGIN, "event": "a\u0000b"}), "content_type": "application/json"},
        400,
    ),
    "a lone surrogate": (
        {
            "data": '{"contact": {"email": "a@example.com"}, "event": "x", '
            '"properties": {"p": "\\ud800"}}',
            "content_type": "application/json",
        },
        400,
    ),
    "a query string": ({"json": LOGIN, "query_string": "x=1"}, 202),
    "another content type": ({"data": json.dumps(LOGIN), "content_type": "text/plain"}, 400),
    "a JSON string": ({"json": "login"}, 400),
    "too large": (
        {
            "data": json.dumps({**LOGIN, "properties": {"x": "y" * 3_000_000}}),
            "content_type": "application/json",
        },
        413,
    ),
    "an invalid event": ({"json": {"contact": {"email": "a@example.com"}}}, 422),
    "a contact id of no contact": (
        {"json": {"contact": {"id": str(uuid.uuid4())}, "event": "x"}},
        422,
    ),
    "an id used for another event": ({"json": {**LOGIN, "id": "taken", "event": "other"}}, 409),
    "GET": ({"method": "GET"}, 405),
}


@pytest.mark.parametrize("case", OTHER_REQUESTS, ids=list(OTHER_REQUESTS))
def test_every_other_request_gets_flask_s_answer(pg_app, case):
    api = api_for(pg_app, "Other")
    assert api.post("/api/events", json={**LOGIN, "id": "taken"}).status_code == 202
    options, status = OTHER_REQUESTS[case]
    options = dict(options)
    token = options.pop("token", api.token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    method = options.pop("method", "POST")
    before = stored()
    with flask_requests(pg_app) as seen:
        answer = api.client.open("/api/events", method=method, headers=headers, **options)
    plain = flask_only(pg_app).open("/api/events", method=method, headers=headers, **options)
    assert seen == ["/api/events"]
    assert answer.status_code == status
    assert shape(answer) == shape(plain)
    assert stored() == before + (2 if status == 202 else 0)


@pytest.mark.parametrize(
    "length",
    ["\u00b2", "1" * 5000, "-1", "0"],
    ids=["superscript two", "5000 digits", "negative", "zero"],
)
def test_a_content_length_that_is_no_size_goes_to_flask(pg_app, length):
    api = api_for(pg_app, "Odd")
    body = json.dumps(LOGIN).encode()
    environ = EnvironBuilder(
        "/api/events",
        method="POST",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    ).get_environ()
    environ["CONTENT_LENGTH"] = length
    answers: list[str] = []
    with flask_requests(pg_app) as seen:
        b"".join(pg_app.wsgi_app(environ, lambda status, headers, exc=None: answers.append(status)))
    assert seen == ["/api/events"] and len(answers) == 1


def test_a_database_error_while_storing_gets_flask_s_503(pg_app, monkeypatch):
    api = api_for(pg_app, "Down")

    def lost(*args: Any) -> Any:
        raise OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(events_postgres, "_execute_store", lost)
    answer = api.post("/api/events", json=LOGIN)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json["error"]["message"] == "the database is unavailable; try again shortly"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_flask_s_request_hooks_are_the_ones_the_fast_path_accounts_for(pg_app):
    """A hook added to Flask's request cycle would not run for the fast path's requests:
    say in `api/events_fast_path.py` what the fast path does instead, then list it here."""
    hooks = {
        hook.__name__
        for registry in (
            pg_app.before_request_funcs,
            pg_app.after_request_funcs,
            pg_app.teardown_request_funcs,
            pg_app.url_value_preprocessors,
        )
        for funcs in registry.values()
        for hook in funcs
    }
    assert hooks == {
        "csrf_protect",
        "refuse_unstorable_text",
        "_set_policy",
        "_authenticate",
        "_update_remember_cookie",
        "add_security_headers",
        "_restore_policy",
    }


def test_the_fast_path_is_installed_on_postgresql_only(app):
    postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    assert isinstance(app.wsgi_app, EventsFastPath) == postgres
