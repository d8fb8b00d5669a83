"""Sign-in throttling: failed attempts per account and per client address, the same answer
for unknown users, and counters in Redis when REDIS_URL is set."""

from __future__ import annotations

import hashlib
import re
import uuid

import redis
from flask import Flask

from app.services import accounts
from tests.conftest import REDIS_URL, Backend, free_port, make_app, truncate_all
from tests.web.client import PASSWORD, Web

THROTTLED = "Too many failed sign-in attempts. Try again in 15 minutes."
MISMATCH = "That email and password do not match an account."


def make_user(app: Flask, email: str, workspace: str = "Acme") -> None:
    with app.app_context():
        accounts.create_user(email, accounts.create_workspace(workspace), PASSWORD)


def client_at(app: Flask, address: str = "127.0.0.1") -> Web:
    web = Web(app)
    web.client.environ_base["REMOTE_ADDR"] = address
    return web


def is_signed_in(web: Web) -> bool:
    return web.get("/sequences").status_code == 200


def test_thirty_wrong_passwords_then_the_right_one_is_refused(app):
    make_user(app, "ops@acme.test")
    web = client_at(app)
    answers = [web.sign_in("ops@acme.test", f"guess-{i}") for i in range(30)]

    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert all(MISMATCH in a.text for a in answers[:5])
    assert [a.status_code for a in answers[5:]] == [429] * 25
    assert all(THROTTLED in a.text for a in answers[5:])
    assert 880 <= int(answers[-1].headers["Retry-After"]) <= 900

    right = web.sign_in("ops@acme.test", PASSWORD)
    assert right.status_code == 429 and THROTTLED in right.text
    assert not is_signed_in(web)
    # The email is the account however it is typed.
    assert web.sign_in("  OPS@Acme.TEST ", PASSWORD).status_code == 429


def test_a_throttled_account_does_not_lock_out_another_account_on_the_same_address(app):
    make_user(app, "ops@acme.test")
    make_user(app, "dev@beta.test", workspace="Beta")
    web = client_at(app)
    for i in range(8):
        web.sign_in("ops@acme.test", f"guess-{i}")

    other = client_at(app)
    assert other.sign_in("dev@beta.test", PASSWORD).status_code == 302
    assert is_signed_in(other)


def test_an_unknown_user_gets_the_same_answers_as_a_wrong_password(app):
    make_user(app, "ops@acme.test")

    def answers(email: str) -> list[tuple[int, str]]:
        web = client_at(app, address=f"10.0.0.{len(email)}")  # its own address budget
        result = []
        for i in range(7):
            response = web.sign_in(email, f"guess-{i}")
            page = re.sub(r'name="csrf_token" value="[^"]+"', "", response.text)
            result.append((response.status_code, page.replace(email, "EMAIL")))
        return result

    known, unknown = answers("ops@acme.test"), answers("nobody@acme.test")
    assert known == unknown
    assert [status for status, _ in known] == [401] * 5 + [429] * 2


def test_twenty_failures_from_one_address_refuse_every_account_from_it(app):
    make_user(app, "ops@acme.test")
    web = client_at(app, "192.0.2.7")
    for i in range(20):  # one guess each at twenty accounts: under every account's limit
        assert web.sign_in(f"user{i}@acme.test", "guess").status_code == 401

    refused = web.sign_in("ops@acme.test", PASSWORD)
    assert refused.status_code == 429 and THROTTLED in refused.text
    elsewhere = client_at(app, "192.0.2.8")
    assert elsewhere.sign_in("ops@acme.test", PASSWORD).status_code == 302


def test_the_limits_come_from_the_settings(sqlite_backend: Backend):
    app = make_app(sqlite_backend, SIGN_IN_ACCOUNT_LIMIT="2 per 15 minutes")
    try:
        make_user(app, "ops@acme.test")
        web = client_at(app)
        statuses = [web.sign_in("ops@acme.test", "guess").status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
    finally:
        with app.app_context():
            truncate_all()


def test_a_successful_sign_in_is_not_counted_as_a_failure(app):
    make_user(app, "ops@acme.test")
    for _ in range(7):
        web = client_at(app)
        assert web.sign_in("ops@acme.test", PASSWORD).status_code == 302


def test_with_redis_url_the_counts_are_shared_by_every_web_process(
    sqlite_backend: Backend, redis_conn: redis.Redis
):
    email = f"ops-{uuid.uuid4().hex[:8]}@acme.test"
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    digest = hashlib.sha256(email.encode()).hexdigest()
    first = make_app(sqlite_backend, REDIS_URL=REDIS_URL)
    try:
        make_user(first, email)
        web = client_at(first, address)
        assert [web.sign_in(email, "guess").status_code for _ in range(5)] == [401] * 5

        keys = [k.decode() for k in redis_conn.scan_iter(f"*penguinmails*{digest}*")]
        assert keys, "the account's failures are counted in Redis"
        assert all(email not in key for key in keys)

        # A second process (a fresh app and limiter storage) sees the same counts.
        second = make_app(sqlite_backend, REDIS_URL=REDIS_URL)
        refused = client_at(second, address).sign_in(email, PASSWORD)
        assert refused.status_code == 429 and THROTTLED in refused.text
    finally:
        for pattern in (f"*{digest}*", f"*{address}*"):
            for key in redis_conn.scan_iter(pattern):
                redis_conn.delete(key)
        with first.app_context():
            truncate_all()


def test_with_redis_unreachable_sign_in_works_and_failures_are_counted_in_memory(
    sqlite_backend: Backend, caplog
):
    app = make_app(sqlite_backend, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    try:
        make_user(app, "ops@acme.test")
        web = client_at(app)
        assert web.sign_in("ops@acme.test", PASSWORD).status_code == 302
        assert "sign-in counts unreachable" in caplog.text

        web = client_at(app)
        statuses = [web.sign_in("ops@acme.test", "guess").status_code for _ in range(6)]
        assert statuses == [401] * 5 + [429]
        assert THROTTLED in web.sign_in("ops@acme.test", PASSWORD).text
    finally:
        with app.app_context():
            truncate_all()
