"""Fixtures: the app on SQLite and on PostgreSQL (schema made by the migrations), SMTP, API.

Locally a missing PostgreSQL or Redis skips its tests with the reason; under CI=true it fails.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import time_machine
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.services import accounts
from tests.dovecot import DOVECOT, Dovecot, running_dovecot
from tests.smtp_sink import SmtpSink, running_sink

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKER_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
"""Which of `make test`'s parallel pytest processes this is (pytest-xdist's gw0, gw1, ...)."""
MAX_PROCESSES = 16  # Redis has databases 0 to 15, one per process
if WORKER_INDEX >= MAX_PROCESSES:
    raise RuntimeError(f"run at most {MAX_PROCESSES} test processes (TEST_PROCESSES)")
REDIS_URL = os.environ.get("TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - WORKER_INDEX}")
"""Each parallel process has a Redis database of its own: the Redis tests flush theirs."""
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, why: Exception | str) -> None:
    """Skip locally, fail loudly in CI: a missing service must never pass silently there."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Backend:
    name: str
    url: str


def _create_pg_database() -> tuple[str, str]:
    name = f"pm_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN_URL)
    return name, f"postgresql+psycopg://{parts.netloc}/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated(url: str) -> None:
    """Build the schema the only supported way: the Alembic migrations."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EMBEDDED_SCHEDULER": False})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its production cost makes every sign-in about 0.26 s; the tests check what
    hashing does, not what it costs. Hashes carry their parameters, so a process started by
    a test (the server, a worker) still verifies them and rehashes at the production cost."""
    patch = pytest.MonkeyPatch()
    patch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    path = tmp_path_factory.mktemp("sqlite") / "test.sqlite3"
    backend = Backend("sqlite", f"sqlite:///{path}")
    migrated(backend.url)
    return backend


@pytest.fixture(scope="session")
def postgres_backend() -> Iterator[Backend]:
    try:
        name, url = _create_pg_database()
    except psycopg.Error as exc:
        unavailable("PostgreSQL", exc)
    migrated(url)
    yield Backend("postgres", url)
    _drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


def make_app(backend: Backend, **config: Any) -> Flask:
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": backend.url,
            "EMBEDDED_SCHEDULER": False,
            "TESTING": True,
            "SMTP_URL": None,
            "BASE_URL": "http://pm.test",
            "SECRET_KEY": "test-secret",
            **config,
        }
    )


def truncate_all() -> None:
    """Empty every table, children first.

    DELETE rather than PostgreSQL's TRUNCATE: a test leaves a handful of rows, and TRUNCATE
    of all the tables swaps every table's and index's files, 70-300 ms a test against a few
    ms for the DELETEs (the sequences are not reset either way)."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(text(f"DELETE FROM {table.name}"))
    db.session.commit()


@pytest.fixture
def app(backend: Backend) -> Iterator[Flask]:
    """The app on each backend, with a context pushed and empty tables afterwards."""
    yield from _app_for(backend)


@pytest.fixture
def pg_app(postgres_backend: Backend) -> Iterator[Flask]:
    """PostgreSQL only: for behaviour that needs real row locks or many processes."""
    yield from _app_for(postgres_backend)


def _app_for(backend: Backend) -> Iterator[Flask]:
    app = make_app(backend)
    app.config["BACKEND"] = backend
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            truncate_all()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def smtp_sink(app: Flask) -> Iterator[SmtpSink]:
    """A real SMTP server on 127.0.0.1; the app sends to it."""
    for sink in running_sink():
        app.config["SMTP_URL"] = sink.url
        yield sink


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    """A real IMAP server (Debian's dovecot-imapd) for the whole run."""
    if not os.access(DOVECOT, os.X_OK):
        unavailable("dovecot", f"{DOVECOT} is missing (apt-get install -y dovecot-imapd)")
    yield from running_dovecot()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Iterator[Dovecot]:
    """The IMAP server with an empty mailbox for this test."""
    dovecot_server.reset()
    yield dovecot_server


@dataclass
class ApiClient:
    """A test client that sends the workspace's Bearer token."""

    client: FlaskClient
    token: str
    workspace_id: uuid.UUID

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self._headers())

    def post(self, path: str, json: Any = None) -> Any:
        return self.client.post(path, json=json, headers=self._headers())

    def patch(self, path: str, json: Any = None) -> Any:
        return self.client.patch(path, json=json, headers=self._headers())


def api_for(app: Flask, workspace_name: str) -> ApiClient:
    workspace = accounts.create_workspace(workspace_name)
    return ApiClient(app.test_client(), accounts.create_token(workspace), workspace.id)


@pytest.fixture
def api(app: Flask) -> ApiClient:
    return api_for(app, "Acme")


CORE_TESTS = os.path.join(os.path.dirname(__file__), "core")


@pytest.fixture(autouse=True)
def wall_clock(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under `@pytest.mark.wall_clock(instant)`, the real clock (in this process) reads
    `instant` when the test starts and runs on from there.

    The engine never reads the real clock, but the web and API layers stamp what they
    enroll and record with it. A test that does that and then ticks the engine at fixed
    instants was written for a day when the clock read earlier than them: once that day
    was past, what the API had stamped was not due at the instants ticked at (an
    enrollment, a wait woken by an event), and such tests failed from that hour on."""
    marker = request.node.get_closest_marker("wall_clock")
    if marker is None:
        yield
        return
    with time_machine.travel(marker.args[0], tick=True):
        yield


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by the services they use, so `-m "not postgres"` and the like select.

    Every pure-core test is also `local_time`: the core computes the waits, windows and
    durations, and its whole suite takes seconds, so all of it runs again in another zone."""
    for item in items:
        if str(item.path).startswith(CORE_TESTS + os.sep):
            item.add_marker(pytest.mark.local_time)
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        on_postgres = "pg_app" in names or "postgres_backend" in names
        if callspec is not None and callspec.params.get("backend") == "postgres":
            on_postgres = True
        if on_postgres:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def redis_conn() -> Iterator[redis.Redis]:
    """A clean Redis database (TEST_REDIS_URL) for a worker-mode or shared-counter test."""
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()
