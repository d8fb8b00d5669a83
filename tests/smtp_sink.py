"""A real SMTP server on 127.0.0.1 for tests: no mocked smtplib anywhere.

It records what arrives, refuses the addresses it is told to with the reply it is told to,
and can drop its clients' connections the way a server drops idle clients.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    """A port nothing listens on right now: aiosmtpd's readiness check cannot use port 0."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ReceivedEnvelope:
    """The SMTP envelope of one accepted message and the connection it came over."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: tuple[str, int]  # the client's address: a new one for each connection
    tls: bool
    login: str | None  # the authenticated user, if any


class SmtpSink:
    """An aiosmtpd server in a thread; it is its own handler.

    `starttls` offers STARTTLS with that server context; `implicit_tls` speaks TLS from the
    first byte instead (smtps); `credentials` enables AUTH (allowed without TLS here).
    """

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = free_port()
        self._credentials = credentials
        self._state = threading.Condition()
        self._messages: list[EmailMessage] = []
        self._raw: list[bytes] = []
        self._envelopes: list[ReceivedEnvelope] = []
        self._refusals: dict[str, str] = {}
        self._clients: list[SMTP] = []
        options: dict[str, Any] = {"tls_context": starttls, "ssl_context": implicit_tls}
        if credentials:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="sink.test", **options
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        """Accepted messages in arrival order, parsed with email.policy.default."""
        with self._state:
            return list(self._messages)

    @property
    def raw(self) -> list[bytes]:
        """Accepted messages as they came over the wire (a signature is checked on these)."""
        with self._state:
            return list(self._raw)

    @property
    def envelopes(self) -> list[ReceivedEnvelope]:
        with self._state:
            return list(self._envelopes)

    def reject(self, address: str, *, code: int = 550, text: str = "5.1.1 No such user") -> None:
        """Answer `code text` whenever `address` is given as sender (MAIL) or recipient (RCPT)."""
        with self._state:
            self._refusals[address.lower()] = f"{code} {text}"

    def allow(self, address: str) -> None:
        """Stop refusing `address` (undoes `reject`)."""
        with self._state:
            self._refusals.pop(address.lower(), None)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Block until at least `count` messages have arrived; return them all."""
        with self._state:
            if not self._state.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout}s, got {len(self._messages)}"
                )
            return list(self._messages)

    def disconnect_clients(self) -> None:
        """Close every connection that delivered a message, as an idle timeout would."""
        future = asyncio.run_coroutine_threadsafe(self._close_clients(), self._controller.loop)
        future.result(timeout=5)

    async def _close_clients(self) -> None:
        for server in self._clients:
            if server.transport is not None:
                server.transport.close()
        while any(server.transport is not None for server in self._clients):
            await asyncio.sleep(0.01)  # until aiosmtpd has seen the connection go

    # aiosmtpd handler hooks, run in the server thread.

    def _refusal(self, address: str) -> str | None:
        with self._state:
            return self._refusals.get(address.lower())

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if refusal := self._refusal(address):
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if refusal := self._refusal(address):
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert server.transport is not None and isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        received = ReceivedEnvelope(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=session.peer,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=session.auth_data.login.decode() if session.authenticated else None,
        )
        with self._state:
            self._messages.append(cast(EmailMessage, parsed))
            self._raw.append(envelope.content)
            self._envelopes.append(received)
            self._clients.append(server)
            self._state.notify_all()
        return "250 2.0.0 Message accepted"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        # handled=False: on failure aiosmtpd answers "535 5.7.8 Authentication credentials invalid".
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        given = (data.login.decode(), data.password.decode())
        return AuthResult(success=given == self._credentials, handled=False, auth_data=data)


def running_sink(**options: Any) -> Iterator[SmtpSink]:
    """A fixture body: `yield from running_sink()` starts a sink and stops it afterwards."""
    with SmtpSink(**options) as sink:
        yield sink
