"""PostgreSQL's pooled connections: pinged only after sitting idle, so a busy process pays no
round trip per request, and a connection the server dropped meanwhile is replaced before
any statement runs on it."""

from __future__ import annotations

import psycopg
from sqlalchemy import text

from app import extensions
from app.extensions import db


def pings_during(monkeypatch, action) -> int:
    count = 0
    original = db.engine.dialect.do_ping

    def counted(dbapi_connection):
        nonlocal count
        count += 1
        return original(dbapi_connection)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    action()
    return count


def one_query() -> None:
    assert db.session.execute(text("SELECT 1")).scalar_one() == 1
    db.session.remove()  # back to the pool, as at the end of a request


def test_a_connection_in_steady_use_is_not_pinged(pg_app, monkeypatch):
    one_query()
    assert pings_during(monkeypatch, lambda: [one_query() for _ in range(5)]) == 0


def test_a_connection_idle_past_the_bound_is_pinged_once(pg_app, monkeypatch):
    one_query()
    monkeypatch.setattr(extensions, "IDLE_PING_SECONDS", 0.0)
    assert pings_during(monkeypatch, one_query) == 1


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(pg_app, monkeypatch):
    one_query()
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:  # as a restarted server would
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended and ended[0] >= 1
    monkeypatch.setattr(extensions, "IDLE_PING_SECONDS", 0.0)
    one_query()  # no error: the dead connection failed its ping and a new one took over
