"""The dispatcher's SMTP connections in a process of their own (the relay), against a real
aiosmtpd server: kept from pass to pass, and when it dies, what it was given comes back
as possibly sent, never as not sent."""

from __future__ import annotations

import email.policy
import os
import signal

import pytest

from app.mail.smtp import (
    PermanentSendError,
    SmtpReply,
    TransientSendError,
    UncertainSendError,
    parse_smtp_url,
)
from app.mail.smtp_pool import SmtpPool
from tests.mail.test_smtp import message
from tests.slow_smtp_sink import SlowSmtpSink
from tests.smtp_sink import SmtpSink, free_port

FAST = "?timeout=5"


def raw(n: int) -> bytes:
    return message(n=n).as_bytes(policy=email.policy.SMTP)


def test_each_pass_sends_from_the_same_relay_process_not_from_the_dispatchers():
    with SmtpSink() as sink:
        pids = []
        for n in (1, 2):
            with SmtpPool(parse_smtp_url(sink.url + FAST), 2) as pool:
                pool.send(n, "news@penguin.test", ["zoe@example.test"], raw(n))
                key, outcome = pool.result()
                pids.append(pool.pid)
            assert key == n and isinstance(outcome, SmtpReply) and outcome.code == 250
        assert len(sink.wait_for(2)) == 2
    assert pids[0] == pids[1] != os.getpid()


def test_a_refusal_and_a_message_object_come_back_as_the_servers_answers():
    with SmtpSink() as sink:
        sink.reject("gone@example.test", code=550, text="5.1.1 No such user here")
        with SmtpPool(parse_smtp_url(sink.url + FAST), 1) as pool:
            pool.send("gone", "news@penguin.test", ["gone@example.test"], raw(1))
            pool.send("zoe", "", [], message("zoe@example.test", n=2))
            outcomes = dict(pool.result() for _ in range(2))
        assert [envelope.rcpt_tos for envelope in sink.envelopes] == [("zoe@example.test",)]
    refused = outcomes["gone"]
    assert isinstance(refused, PermanentSendError) and refused.code == 550
    assert refused.answer == "5.1.1 No such user here"
    assert isinstance(outcomes["zoe"], SmtpReply)


def test_a_relay_killed_mid_pass_leaves_what_it_was_given_possibly_sent_and_is_replaced():
    with SlowSmtpSink(delay=2) as sink:
        settings = parse_smtp_url(sink.url + FAST)
        with SmtpPool(settings, 2) as pool:
            for n in (1, 2, 3):
                pool.send(n, "news@penguin.test", ["zoe@example.test"], raw(n))
            killed = pool.pid
            assert killed is not None
            os.kill(killed, signal.SIGKILL)
            outcomes = dict(pool.result() for _ in range(3))
        assert sorted(outcomes) == [1, 2, 3]
        assert all(isinstance(o, UncertainSendError) for o in outcomes.values())
        sink.delay = 0
        with SmtpPool(settings, 1) as pool:
            assert pool.pid != killed
            pool.send(4, "news@penguin.test", ["zoe@example.test"], raw(4))
            assert isinstance(pool.result()[1], SmtpReply)


def test_without_a_server_the_pool_does_not_open_and_says_why():
    port = free_port()
    pool = SmtpPool(parse_smtp_url(f"smtp://127.0.0.1:{port}{FAST}"), 2)
    with pytest.raises(TransientSendError) as caught, pool:
        pass
    assert caught.value.reason.startswith(f"connecting to 127.0.0.1:{port}: ")
