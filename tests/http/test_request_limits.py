"""Request bodies are bounded: 413 before an oversized body is read, as JSON for the API
and as a page for the browser, with the import routes allowed a file's size."""

from __future__ import annotations

import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select as sql_select
from werkzeug.serving import make_server

from app.extensions import db
from app.models import Contact, Sequence
from app.services import accounts, forms
from tests.helpers import ONBOARDING
from tests.services.test_forms import ebook_sequence
from tests.web.client import Web, signed_in

MB = 2**20
HUGE_POST = 200 * MB
CHUNK = b"x" * (64 * 1024)


@dataclass
class Answer:
    status: int
    head: str
    sent: int
    seconds: float


@pytest.fixture
def served(app: Flask) -> Iterator[int]:
    """The app over real HTTP in a thread; yields its port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def public_form_path(app: Flask) -> str:
    sequence = ebook_sequence(accounts.create_workspace("Acme"))
    [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
    return f"/f/{form.public_id}"


FILE_PART = (
    b'------pm\r\nContent-Disposition: form-data; name="email"; filename="a.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
)
BODIES = {  # content type, how the body starts (then "x" up to the announced size)
    "a form field": ("application/x-www-form-urlencoded", b"email="),
    "an uploaded file": ("multipart/form-data; boundary=----pm", FILE_PART),
}


def stream_post(port: int, path: str, total: int, content_type: str, start: bytes) -> Answer:
    """Announce `total` bytes and send them until the server answers; read its answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {total}\r\n\r\n"
        )
        sock.sendall(head.encode() + start)
        sent = len(start)
        while time.monotonic() - started < 120:
            readable, writable, _ = select.select([sock], [sock] if sent < total else [], [], 1)
            if readable:
                break
            if writable:
                sent += sock.send(CHUNK[: total - sent])
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status_line, _, rest = answer.decode("latin-1").partition("\r\n")
    return Answer(int(status_line.split()[1]), rest, sent, time.monotonic() - started)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("body", BODIES)
def test_a_200_mb_post_to_the_public_form_is_refused_before_it_is_read(
    served, public_form_path, body
):
    rss_before = peak_rss_mb()
    answer = stream_post(served, public_form_path, HUGE_POST, *BODIES[body])
    grown = peak_rss_mb() - rss_before
    print(
        f"\n200 MB POST ({body}): {answer.status} after {answer.seconds:.3f}s, "
        f"{answer.sent / MB:.1f} MB sent, peak RSS +{grown:.1f} MB"
    )
    assert answer.status == 413
    assert "text/html" in answer.head
    assert answer.sent < 20 * MB, "the server answered only after reading most of the body"
    assert answer.seconds < 5
    assert grown < 50


def test_a_20_mb_contact_is_refused_with_413_json_and_nothing_is_stored(api):
    answer = api.post("/api/contacts", {"email": "big@example.com", "first_name": "x" * 20 * MB})
    assert answer.status_code == 413
    assert answer.json["error"]["message"] == "the request body is larger than 2 MB"
    assert db.session.scalar(sql_select(func.count()).select_from(Contact)) == 0


def test_a_form_field_over_the_form_memory_limit_is_413_though_the_body_is_small(app):
    fields = {"email": "a@b.test", "password": "p" * 600_000}
    page = Web(app).post("/sign-in", data=fields, content_type="multipart/form-data")
    assert page.status_code == 413
    assert page.mimetype == "text/html"
    assert "A form field is larger than 500,000 bytes" in page.text


def test_the_import_routes_take_a_file_larger_than_the_request_limit(app, api):
    app.config.update(MAX_CONTENT_LENGTH=20_000, MAX_IMPORT_REQUEST_BYTES=200_000)
    padded = ONBOARDING.read_text() + "\n# " + "x" * 50_000 + "\n"

    imported = api.client.post(
        "/api/sequences/import", data=padded, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert imported.status_code == 201, imported.json
    refused = api.post("/api/contacts", {"email": "a@example.com", "first_name": "x" * 50_000})
    assert refused.status_code == 413

    web = signed_in(app, "Beta", "marketer@beta.test")
    token = web.csrf_token("/contacts/import")
    csv = "email,first_name\n" + "".join(f"c{i}@example.com,Name{i}\n" for i in range(2000))
    assert len(csv) > 20_000
    upload = web.post(
        "/contacts/import",
        data={"csrf_token": token, "file": (BytesIO(csv.encode()), "contacts.csv")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 302, upload.text
    assert db.session.scalar(sql_select(func.count()).select_from(Sequence)) == 1
