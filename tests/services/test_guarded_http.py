"""The guarded POST against a real local server: refusals, deadline, no redirects, one DNS
answer pinned for the connection."""

from __future__ import annotations

import socket
import time

import pytest

from app.services import guarded_http
from tests.webhook_receiver import running_receiver

HEADERS = {"Content-Type": "application/json"}


def post(url: str, allow_private: bool = True, timeout: float = 5.0) -> guarded_http.Answer:
    return guarded_http.post(
        url, b'{"a":1}', HEADERS, timeout_seconds=timeout, allow_private=allow_private
    )


def test_a_post_reaches_the_server_with_its_body_and_a_short_excerpt_comes_back():
    with running_receiver() as receiver:
        answer = post(receiver.url("/in?x=1"))
    assert answer.status == 200
    assert len(answer.excerpt) <= guarded_http.EXCERPT_BYTES
    [request] = receiver.requests
    assert request.path == "/in?x=1" and request.body == b'{"a":1}'
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"


def test_loopback_is_refused_without_the_operators_permission_and_nothing_is_sent():
    with running_receiver() as receiver:
        with pytest.raises(guarded_http.RefusedTarget, match=r"127\.0\.0\.1 is a loopback address"):
            post(receiver.url(), allow_private=False)
        with pytest.raises(guarded_http.RefusedTarget, match="loopback"):
            post(receiver.url(host="localhost"), allow_private=False)
    assert receiver.requests == []


def test_only_http_and_https_are_called():
    with pytest.raises(guarded_http.RefusedTarget, match="only http and https"):
        post("file:///etc/passwd")


def test_a_redirect_is_an_answer_and_is_not_followed():
    with running_receiver() as receiver:
        receiver.statuses = [302]
        assert post(receiver.url()).status == 302
    assert len(receiver.requests) == 1


@pytest.mark.latency
def test_a_slow_answer_is_cut_at_the_deadline():
    with running_receiver() as receiver:
        receiver.delay_seconds, receiver.slow_answers = 3.0, 1
        started = time.monotonic()
        with pytest.raises(guarded_http.CallFailed, match="no answer within 1 s"):
            post(receiver.url(), timeout=1.0)
        assert time.monotonic() - started < 2.0


def test_the_host_is_resolved_once_and_the_checked_address_is_the_one_connected_to(monkeypatch):
    """DNS rebinding: a second lookup would give another address; there is none, and the
    Host header still names the host."""
    lookups = []
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)  # an address written out: no DNS
        lookups.append(host)
        return real("127.0.0.1" if len(lookups) == 1 else "10.9.9.9", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with running_receiver() as receiver:
        answer = post(f"http://hooks.example.test:{receiver.port}/hook")
    assert answer.status == 200
    assert lookups == ["hooks.example.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_every_resolved_address_is_checked_not_only_the_first(monkeypatch):
    real = socket.getaddrinfo

    def mixed(host, port, *args, **kwargs):
        return real("93.184.216.34", port, *args, **kwargs) + real(
            "10.0.0.1", port, *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with pytest.raises(guarded_http.RefusedTarget, match=r"10\.0\.0\.1 is a private address"):
        post("http://mixed.example.test/hook", allow_private=False)
