"""SMTP delivery over one reused connection, with failures sorted into retry or give up.

The dispatcher decides from the exception class alone: `TransientSendError` means try again
later, `PermanentSendError` means this message will not go through as it is,
`UncertainSendError` means the connection broke off after the message content had started
to go out, so the server may have accepted it: sending it again could deliver it twice.
Errors raised
while opening the connection (`with SmtpTransport(...)`) concern the server or the
configuration (refused login, untrusted certificate), not one message.
"""

from __future__ import annotations

import math
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
from types import TracebackType
from urllib.parse import parse_qsl, unquote, urlsplit

from app.tls import client_context


class Security(StrEnum):
    """How the connection is protected, chosen by the URL scheme."""

    OPPORTUNISTIC = "opportunistic"  # smtp://: STARTTLS when the server offers it
    STARTTLS = "starttls"  # smtp+starttls://: STARTTLS or no session at all
    IMPLICIT_TLS = "implicit_tls"  # smtps://: TLS from the first byte


_SCHEMES = {
    "smtp": (Security.OPPORTUNISTIC, 25),
    "smtp+starttls": (Security.STARTTLS, 587),
    "smtps": (Security.IMPLICIT_TLS, 465),
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to connect; the password is kept out of repr so it never reaches logs."""

    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify: bool = True  # False accepts any certificate: self-signed development servers only
    timeout: float = DEFAULT_TIMEOUT  # seconds, for connecting and for each reply

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpSettings:
    """Parse `smtp://`, `smtp+starttls://` or `smtps://[user:pass@]host[:port][?options]`.

    Options: `verify=false` (accept any certificate), `timeout=SECONDS`. Error messages never
    repeat the URL, which may hold a password.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"SMTP URL scheme must be smtp, smtp+starttls or smtps: {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("SMTP URL has no host")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("SMTP URL must not have a path or a fragment")
    security, default_port = _SCHEMES[parts.scheme]
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise ValueError("SMTP URL port must be a number from 1 to 65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if (username is None) != (password is None):
        raise ValueError("SMTP URL needs both a user and a password, or neither")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if unknown := options.keys() - {"verify", "timeout"}:
        raise ValueError(f"unknown SMTP URL option(s) {sorted(unknown)}: use verify or timeout")
    return SmtpSettings(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        username=username,
        password=password,
        verify=_parse_verify(options.get("verify", "true")),
        timeout=_parse_timeout(options.get("timeout", str(DEFAULT_TIMEOUT))),
    )


def _parse_verify(value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise ValueError(f"SMTP URL option verify must be true or false, not {value!r}") from None


def _parse_timeout(value: str) -> float:
    try:
        timeout = float(value)
    except ValueError:
        timeout = math.nan
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"SMTP URL option timeout must be a positive number, not {value!r}")
    return timeout


@dataclass(frozen=True, slots=True)
class SmtpReply:
    """What the server answered to a message's content (DATA), e.g. 250 and its queue id."""

    code: int
    text: str


class SendError(Exception):
    """A message was not handed over; `reason` includes the server's reply when there was one,
    `code` and `answer` are that reply alone (for the attempts an operator reads)."""

    def __init__(self, reason: str, code: int | None = None, answer: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.answer = answer


class TransientSendError(SendError):
    """Worth retrying later: 4xx replies, refused or dropped connections, timeouts."""


class PermanentSendError(SendError):
    """Retrying will not help: 5xx replies, refused recipient or sender, configuration errors."""


class UncertainSendError(SendError):
    """The connection dropped or timed out after the server said 354 to DATA and before it
    answered the content: it may or may not have taken the message. Never retried blindly."""


class _ContentTracking:
    """Notes whether the current message's content has started going out (the server
    answered 354 to DATA): from then on a lost connection leaves the outcome unknown."""

    content_started = False
    _awaiting_go_ahead = False
    data_reply: tuple[int, bytes] | None = None  # the server's answer to the last content

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        self.content_started, self._awaiting_go_ahead = False, True
        try:
            self.data_reply = super().data(msg)  # type: ignore[misc]
            return self.data_reply
        finally:
            self._awaiting_go_ahead = False

    def getreply(self) -> tuple[int, bytes]:
        reply: tuple[int, bytes] = super().getreply()  # type: ignore[misc]
        if self._awaiting_go_ahead and reply[0] == 354:
            self.content_started, self._awaiting_go_ahead = True, False
        return reply


class _SMTP(_ContentTracking, smtplib.SMTP):
    pass


class _SMTPS(_ContentTracking, smtplib.SMTP_SSL):
    pass


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _answer(exc: Exception) -> str | None:
    """The server's reply text alone, when it replied."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = next(iter(exc.recipients.values()), None)
        return _reply_text(refused[1]) if refused else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_text(exc.smtp_error)
    return None


def _describe(exc: Exception) -> tuple[int | None, str]:
    """The SMTP reply code (if any) and a readable account of what went wrong."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = next(iter(exc.recipients.items()), None)
        if refused is None:  # send_message found no To/Cc/Bcc address
            return None, "the message has no recipients"
        address, (code, reply) = refused
        return code, f"recipient {address} refused: {code} {_reply_text(reply)}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        reply = _reply_text(exc.smtp_error)
        return exc.smtp_code, f"sender {exc.sender} refused: {exc.smtp_code} {reply}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return exc.smtp_code, f"login refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code, f"server replied {exc.smtp_code} {_reply_text(exc.smtp_error)}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return None, (
            f"TLS certificate not trusted ({exc.verify_message}); "
            "add ?verify=false to the URL only for a self-signed development server"
        )
    return None, str(exc) or type(exc).__name__


def _network_trouble(exc: Exception) -> bool:
    # SMTPException subclasses OSError, so "OSError" alone would include protocol errors.
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    untrusted = isinstance(exc, ssl.SSLCertVerificationError)
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException) and not untrusted


def _classify(exc: Exception, doing: str) -> SendError:
    code, detail = _describe(exc)
    # Without a reply code: network trouble is transient, protocol or configuration trouble not.
    permanent = code >= 500 if code is not None else not _network_trouble(exc)
    error_class = PermanentSendError if permanent else TransientSendError
    return error_class(f"{doing}: {detail}", code, _answer(exc))


def _connection_lost(exc: Exception) -> bool:
    """True when smtplib has closed the connection: it dropped, or the server said 421."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421
    )


class SmtpTransport:
    """One SMTP connection reused for many messages. Not thread-safe: one per worker.

    Use as a context manager: entering opens and authenticates the connection (raising
    SendError if that fails), leaving says QUIT.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: _SMTP | _SMTPS | None = None
        self._open = False

    def __enter__(self) -> SmtpTransport:
        self._conn = self._connect()
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        self._disconnect()

    def send(self, msg: EmailMessage) -> SmtpReply:
        """Send one EmailMessage (envelope from its headers) and return the server's answer
        to its content; see `send_raw`."""
        return self._transaction(lambda conn: conn.send_message(msg))

    def send_raw(self, sender: str, recipients: list[str], data: bytes) -> SmtpReply:
        """Send one message already flattened to bytes (CRLF lines, ASCII addresses) and
        return the server's answer to its content; if the server had dropped the connection
        before the content went out, reconnect once. A connection lost after that raises
        UncertainSendError."""
        return self._transaction(lambda conn: conn.sendmail(sender, recipients, data))

    def _transaction(self, send: Callable[[_SMTP | _SMTPS], object]) -> SmtpReply:
        if not self._open:
            raise RuntimeError("SmtpTransport.send() called outside its with block")
        doing = f"sending via {self.settings.endpoint}"
        for last_try in (False, True):
            conn = self._connection()
            conn.content_started, conn.data_reply = False, None
            try:
                send(conn)
                code, text = conn.data_reply or (250, b"")  # sendmail raised unless DATA said 250
                return SmtpReply(code, _reply_text(text))
            except (smtplib.SMTPException, OSError) as exc:
                replied = isinstance(exc, smtplib.SMTPResponseException)
                if conn.content_started and not replied:
                    self._disconnect()
                    detail = _describe(exc)[1]
                    raise UncertainSendError(
                        f"{doing}: the connection was lost after the message content was "
                        f"sent, so the server may have accepted it ({detail})"
                    ) from exc
                lost = _connection_lost(exc)
                if lost:
                    self._disconnect()
                if last_try or not lost:
                    raise _classify(exc, doing) from exc

    def _connection(self) -> _SMTP | _SMTPS:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> _SMTP | _SMTPS:
        settings = self.settings
        doing = f"connecting to {settings.endpoint}"
        try:
            if settings.security is Security.IMPLICIT_TLS:
                conn: _SMTP | _SMTPS = _SMTPS(
                    settings.host,
                    settings.port,
                    timeout=settings.timeout,
                    context=client_context(settings.verify),
                )
            else:
                conn = _SMTP(settings.host, settings.port, timeout=settings.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, doing) from exc
        try:
            conn.ehlo_or_helo_if_needed()
            self._start_tls(conn)
            if settings.username is not None:
                conn.login(settings.username, settings.password or "")
        except (smtplib.SMTPException, OSError) as exc:
            conn.close()
            raise _classify(exc, doing) from exc
        return conn

    def _start_tls(self, conn: smtplib.SMTP) -> None:
        security = self.settings.security
        if security is Security.IMPLICIT_TLS:
            return
        if not conn.has_extn("starttls"):
            if security is Security.STARTTLS:
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer STARTTLS, which smtp+starttls:// requires"
                )
            return
        code, reply = conn.starttls(context=client_context(self.settings.verify))
        if code != 220:
            raise smtplib.SMTPResponseException(code, reply)
        conn.ehlo()

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
