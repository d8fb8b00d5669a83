"""A database that refuses connections is a 503 "database unavailable" (JSON for the API,
a page for the browser) with Retry-After, not a 500."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import make_url

from app.extensions import db
from tests.conftest import Backend, api_for, free_port, make_app


@pytest.fixture
def no_database() -> Iterator[Flask]:
    """The app pointed at a PostgreSQL port where nothing listens."""
    app = make_app(Backend("down", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"))
    yield app


def test_the_api_answers_503_json_when_the_database_is_down(no_database):
    answer = no_database.test_client().get(
        "/api/sequences", headers={"Authorization": "Bearer pm_whatever"}
    )
    assert answer.status_code == 503
    assert answer.json["error"]["message"] == "the database is unavailable; try again shortly"
    assert answer.headers["Retry-After"] == "5"


def test_a_page_answers_503_html_when_the_database_is_down(no_database):
    answer = no_database.test_client().get("/f/some-public-form")
    assert answer.status_code == 503
    assert answer.mimetype == "text/html"
    assert "Database unavailable" in answer.text
    assert answer.headers["Retry-After"] == "5"
    assert "frame-ancestors" not in answer.headers["Content-Security-Policy"]


class Relay:
    """A TCP relay to PostgreSQL that can be stopped, as a database server would stop."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_a_database_stopped_while_the_app_runs_gives_503(postgres_backend):
    url = make_url(postgres_backend.url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    app = make_app(Backend("relayed", url.set(port=relay.port).render_as_string(False)))
    client = app.test_client()
    assert client.get("/f/no-such-form").status_code == 404  # the database answers
    relay.stop()
    answer = client.get("/f/no-such-form", headers={"Accept": "application/json"})
    assert answer.status_code == 503
    assert answer.json["error"]["message"] == "the database is unavailable; try again shortly"
    with app.app_context():
        db.engine.dispose()


def test_an_event_posted_after_the_database_stopped_gets_503(postgres_backend):
    """The events API's one statement runs through the driver itself; a connection lost
    under it is still the database being unavailable, not a server error."""
    url = make_url(postgres_backend.url)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432))
    app = make_app(Backend("relayed", url.set(port=relay.port).render_as_string(False)))
    event = {"contact": {"email": "ada@example.com"}, "event": "user_login"}
    with app.app_context():
        api = api_for(app, "Relayed")
        db.session.commit()
        for _ in range(2):  # the token checked and trusted, then the one-statement path
            assert api.post("/api/events", json=event).status_code == 202
        relay.stop()
        answer = api.post("/api/events", json=event)
        assert answer.status_code == 503, answer.text
        assert answer.json["error"]["message"] == "the database is unavailable; try again shortly"
        db.session.remove()
        db.engine.dispose()
