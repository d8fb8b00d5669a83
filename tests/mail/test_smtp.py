"""SMTP delivery against a real aiosmtpd server on 127.0.0.1: no mocked smtplib."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import app.tls as app_tls
from app.mail.compose import compose_message
from app.mail.rendering import render_email
from app.mail.smtp import (
    PermanentSendError,
    Security,
    SendError,
    SmtpSettings,
    SmtpTransport,
    TransientSendError,
    UncertainSendError,
    parse_smtp_url,
)
from tests.dropping_smtp import DroppingSmtpSink
from tests.slow_smtp_sink import SlowSmtpSink
from tests.smtp_sink import SmtpSink, free_port, running_sink

FAST = "timeout=5"


def message(to_email: str = "zoe@example.test", n: int = 1) -> EmailMessage:
    rendered = render_email(
        "Hello {{ contact.first_name }} #{{ n }}",
        "<p>Hi {{ contact.first_name }}</p>",
        None,
        {"contact": {"first_name": "Zoë"}, "n": n},
    )
    return compose_message(
        rendered=rendered,
        from_email="news@penguin.test",
        from_name="Penguin",
        to_email=to_email,
        to_name=None,
        message_id=f"<send-{n}@penguin.test>",
        unsubscribe_url=f"https://pm.test/u/{n}",
        sent_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def transport(url: str) -> SmtpTransport:
    return SmtpTransport(parse_smtp_url(url))


# --- URL parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.test", SmtpSettings("mail.test", 25, Security.OPPORTUNISTIC)),
        ("smtp://mail.test:2525/", SmtpSettings("mail.test", 2525, Security.OPPORTUNISTIC)),
        ("smtp+starttls://mail.test", SmtpSettings("mail.test", 587, Security.STARTTLS)),
        ("smtps://mail.test", SmtpSettings("mail.test", 465, Security.IMPLICIT_TLS)),
        ("SMTPS://Mail.Test:4650", SmtpSettings("mail.test", 4650, Security.IMPLICIT_TLS)),
        ("smtp://[::1]:2525", SmtpSettings("::1", 2525, Security.OPPORTUNISTIC)),
        (
            "smtp+starttls://us%40er:p%3Ass%2Fw%40rd@mail.test",
            SmtpSettings("mail.test", 587, Security.STARTTLS, "us@er", "p:ss/w@rd"),
        ),
        ("smtp://u:@mail.test", SmtpSettings("mail.test", 25, Security.OPPORTUNISTIC, "u", "")),
        (
            "smtps://mail.test?verify=false&timeout=2.5",
            SmtpSettings("mail.test", 465, Security.IMPLICIT_TLS, verify=False, timeout=2.5),
        ),
        ("smtp://mail.test?verify=TRUE", SmtpSettings("mail.test", 25, Security.OPPORTUNISTIC)),
    ],
)
def test_parse_smtp_url(url: str, expected: SmtpSettings) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.test", r"scheme must be smtp, smtp\+starttls or smtps: 'http'"),
        ("smtp+ssl://mail.test", "scheme must be"),
        ("smtp://", "no host"),
        ("smtp://mail.test/path", "path or a fragment"),
        ("smtp://mail.test:0", "port must be a number"),
        ("smtp://mail.test:99999", "port must be a number"),
        ("smtp://mail.test:abc", "port must be a number"),
        ("smtp://user@mail.test", "both a user and a password"),
        ("smtp://:secret@mail.test", "both a user and a password"),
        ("smtp://mail.test?verfy=false", "unknown SMTP URL option"),
        ("smtp://mail.test?verify=maybe", "verify must be true or false"),
        ("smtp://mail.test?timeout=0", "timeout must be a positive number"),
        ("smtp://mail.test?timeout=nan", "timeout must be a positive number"),
        ("smtp://mail.test?timeout=soon", "timeout must be a positive number"),
    ],
)
def test_parse_smtp_url_errors(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_smtp_url(url)


def test_password_stays_out_of_repr_and_errors() -> None:
    settings = parse_smtp_url("smtp://user:hunter2@mail.test")
    assert settings.password == "hunter2"
    assert "hunter2" not in repr(settings)
    with pytest.raises(ValueError) as caught:
        parse_smtp_url("smtp://user:hunter2@mail.test?bad=1")
    assert "hunter2" not in str(caught.value)


# --- delivery -----------------------------------------------------------------------------------


def test_message_arrives_with_both_parts_and_exact_headers(smtp_sink: SmtpSink) -> None:
    with transport(smtp_sink.url) as smtp:
        smtp.send(message())
    [received] = smtp_sink.wait_for(1)
    [envelope] = smtp_sink.envelopes
    assert envelope.mail_from == "news@penguin.test"
    assert envelope.rcpt_tos == ("zoe@example.test",)
    assert not envelope.tls and envelope.login is None
    assert received["Subject"] == "Hello Zoë #1"
    assert received["Message-ID"] == "<send-1@penguin.test>"
    assert received["List-Unsubscribe"] == "<https://pm.test/u/1>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text_part, html_part = received.iter_parts()
    assert text_part.get_content().strip() == "Hi Zoë"
    assert html_part.get_content().strip() == "<p>Hi Zoë</p>"


def test_one_connection_serves_many_messages(smtp_sink: SmtpSink) -> None:
    with transport(smtp_sink.url) as smtp:
        for n in range(1, 4):
            smtp.send(message(n=n))
    assert [m["Message-ID"] for m in smtp_sink.wait_for(3)] == [
        "<send-1@penguin.test>",
        "<send-2@penguin.test>",
        "<send-3@penguin.test>",
    ]
    assert len({envelope.peer for envelope in smtp_sink.envelopes}) == 1


def test_reconnects_once_when_the_server_dropped_the_connection(smtp_sink: SmtpSink) -> None:
    with transport(smtp_sink.url) as smtp:
        smtp.send(message(n=1))
        smtp_sink.disconnect_clients()
        smtp.send(message(n=2))
        smtp.send(message(n=3))
    assert len(smtp_sink.wait_for(3)) == 3
    peers = [envelope.peer for envelope in smtp_sink.envelopes]
    assert peers[0] != peers[1] == peers[2]


def test_login_with_credentials_from_the_url() -> None:
    with SmtpSink(credentials=("us@er", "p:ss w@rd")) as sink:
        with transport(f"smtp://us%40er:p%3Ass%20w%40rd@127.0.0.1:{sink.port}?{FAST}") as smtp:
            smtp.send(message())
        assert sink.envelopes[0].login == "us@er"


def test_wrong_password_is_a_permanent_error_when_connecting() -> None:
    with SmtpSink(credentials=("user", "right")) as sink:
        smtp = transport(f"smtp://user:wrong@127.0.0.1:{sink.port}?{FAST}")
        with pytest.raises(PermanentSendError) as caught, smtp:
            pass
    assert caught.value.code == 535
    assert caught.value.reason.startswith(f"connecting to 127.0.0.1:{sink.port}: login refused")
    assert "535" in caught.value.reason


def test_refused_recipient_550_is_permanent_and_the_connection_stays_usable(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.reject("gone@example.test", code=550, text="5.1.1 No such user here")
    with transport(smtp_sink.url) as smtp:
        with pytest.raises(PermanentSendError) as caught:
            smtp.send(message("gone@example.test"))
        smtp.send(message("zoe@example.test", n=2))
    assert caught.value.code == 550
    assert caught.value.reason == (
        f"sending via 127.0.0.1:{smtp_sink.port}: "
        "recipient gone@example.test refused: 550 5.1.1 No such user here"
    )
    assert [envelope.rcpt_tos for envelope in smtp_sink.envelopes] == [("zoe@example.test",)]


def test_refused_recipient_451_is_transient(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("busy@example.test", code=451, text="4.7.1 Try again later")
    with transport(smtp_sink.url) as smtp, pytest.raises(TransientSendError) as caught:
        smtp.send(message("busy@example.test"))
    assert caught.value.code == 451
    assert "451 4.7.1 Try again later" in caught.value.reason


def test_a_refusal_can_be_lifted(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("Busy@Example.test", code=451, text="4.7.1 Try again later")
    with transport(smtp_sink.url) as smtp:
        with pytest.raises(TransientSendError):
            smtp.send(message("busy@example.test"))
        smtp_sink.allow("busy@example.test")
        smtp.send(message("busy@example.test"))
    assert len(smtp_sink.wait_for(1)) == 1


def test_refused_sender_is_permanent(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("news@penguin.test", code=553, text="5.7.1 Sender not allowed")
    with transport(smtp_sink.url) as smtp, pytest.raises(PermanentSendError) as caught:
        smtp.send(message())
    assert caught.value.code == 553
    assert "sender news@penguin.test refused: 553 5.7.1 Sender not allowed" in caught.value.reason


def test_connection_refused_is_transient() -> None:
    port = free_port()
    with pytest.raises(TransientSendError) as caught, transport(f"smtp://127.0.0.1:{port}"):
        pass
    assert caught.value.code is None
    assert caught.value.reason.startswith(f"connecting to 127.0.0.1:{port}: ")
    assert "refused" in caught.value.reason.lower()


def test_send_outside_the_with_block_is_a_programming_error(smtp_sink: SmtpSink) -> None:
    with pytest.raises(RuntimeError, match="outside its with block"):
        transport(smtp_sink.url).send(message())


def test_all_send_errors_share_a_base_class() -> None:
    assert issubclass(TransientSendError, SendError)
    assert issubclass(PermanentSendError, SendError)


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context with a throwaway self-signed certificate for 127.0.0.1."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def starttls_sink(server_tls: ssl.SSLContext) -> Iterator[SmtpSink]:
    yield from running_sink(starttls=server_tls, credentials=("user", "secret"))


@pytest.fixture
def contexts_made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ssl.SSLContext]]:
    """The TLS contexts made from here on (each one loads the system's CA certificates)."""
    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    app_tls._context.cache_clear()
    monkeypatch.setattr(app_tls.ssl, "create_default_context", counted)
    yield made
    app_tls._context.cache_clear()


def test_a_plain_connection_loads_no_ca_certificates(
    smtp_sink: SmtpSink, contexts_made: list[ssl.SSLContext]
) -> None:
    for n in (1, 2):
        with transport(smtp_sink.url) as smtp:
            smtp.send(message(n=n))
    assert len(smtp_sink.messages) == 2
    assert contexts_made == []


def test_tls_connections_of_one_process_share_one_context(
    starttls_sink: SmtpSink, contexts_made: list[ssl.SSLContext]
) -> None:
    url = f"smtp+starttls://user:secret@127.0.0.1:{starttls_sink.port}?verify=false&{FAST}"
    for n in (1, 2, 3):
        with transport(url) as smtp:
            smtp.send(message(n=n))
    assert [envelope.tls for envelope in starttls_sink.envelopes] == [True, True, True]
    assert len(contexts_made) == 1


def test_plain_url_upgrades_with_starttls_when_offered(starttls_sink: SmtpSink) -> None:
    url = f"smtp://user:secret@127.0.0.1:{starttls_sink.port}?verify=false&{FAST}"
    with transport(url) as smtp:
        smtp.send(message())
    [envelope] = starttls_sink.envelopes
    assert envelope.tls
    assert envelope.login == "user"


def test_starttls_url_requires_starttls(smtp_sink: SmtpSink) -> None:
    url = f"smtp+starttls://127.0.0.1:{smtp_sink.port}?{FAST}"
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"), transport(url):
        pass
    assert smtp_sink.messages == []


def test_starttls_url_sends_over_tls(starttls_sink: SmtpSink) -> None:
    url = f"smtp+starttls://user:secret@127.0.0.1:{starttls_sink.port}?verify=false&{FAST}"
    with transport(url) as smtp:
        smtp.send(message())
    assert starttls_sink.envelopes[0].tls


def test_untrusted_certificate_is_refused_unless_verify_false(starttls_sink: SmtpSink) -> None:
    url = f"smtp+starttls://127.0.0.1:{starttls_sink.port}?{FAST}"
    with pytest.raises(PermanentSendError) as caught, transport(url):
        pass
    assert "TLS certificate not trusted" in caught.value.reason
    assert "verify=false" in caught.value.reason


def test_smtps_speaks_tls_from_the_first_byte(server_tls: ssl.SSLContext) -> None:
    with SmtpSink(implicit_tls=server_tls) as sink:
        with transport(f"smtps://127.0.0.1:{sink.port}?verify=false&{FAST}") as smtp:
            smtp.send(message())
        assert sink.envelopes[0].tls


def test_a_421_closes_the_connection_and_is_retried_once_then_transient(
    smtp_sink: SmtpSink,
) -> None:
    smtp_sink.reject("zoe@example.test", code=421, text="4.3.2 Service shutting down")
    with transport(smtp_sink.url) as smtp, pytest.raises(TransientSendError) as caught:
        smtp.send(message())
    assert caught.value.code == 421
    assert "421 4.3.2 Service shutting down" in caught.value.reason


def test_a_connection_lost_after_the_content_is_uncertain_and_never_resent() -> None:
    with DroppingSmtpSink() as sink:
        with transport(sink.url) as smtp, pytest.raises(UncertainSendError) as caught:
            smtp.send(message())
        assert "may have accepted it" in caught.value.reason
        assert [m["Message-ID"] for m in sink.wait_for(1)] == ["<send-1@penguin.test>"]
        with transport(sink.url):  # a fresh connection: nothing was sent again behind our back
            pass
        assert len(sink.messages) == 1


def test_a_reply_that_does_not_come_in_time_after_the_content_is_uncertain() -> None:
    with SlowSmtpSink(delay=2) as sink:
        with transport(f"{sink.url}?timeout=0.5") as smtp, pytest.raises(UncertainSendError):
            smtp.send(message())
        assert len(sink.wait_for(1)) == 1


def test_send_returns_the_servers_answer_to_the_content(smtp_sink: SmtpSink) -> None:
    with transport(smtp_sink.url) as smtp:
        reply = smtp.send(message())
    assert (reply.code, reply.text) == (250, "2.0.0 Message accepted")


def test_a_refusal_carries_the_servers_code_and_text_alone(smtp_sink: SmtpSink) -> None:
    smtp_sink.reject("no@example.test", code=550, text="5.1.1 No such user")
    with transport(smtp_sink.url) as smtp, pytest.raises(PermanentSendError) as refused:
        smtp.send(message("no@example.test"))
    assert (refused.value.code, refused.value.answer) == (550, "5.1.1 No such user")
