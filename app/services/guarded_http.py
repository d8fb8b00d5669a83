"""One outbound HTTP POST to a URL an author typed, guarded against being turned on us.

The host is resolved once and every address it resolves to is checked: private, loopback,
link-local, multicast, reserved and other non-global addresses are refused (unless the
operator allows private targets, as the tests do for their local receiver). The connection
then goes to the checked address itself, so a second DNS answer cannot swap in another one
(DNS rebinding); the Host header and TLS SNI/certificate check still use the host name.
Redirects are never followed, and the whole exchange (connect, send, read) has one deadline.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.core.targets import SCHEMES, IpAddress, literal_address, refused_address
from app.tls import client_context

EXCERPT_BYTES = 200
"""How much of the answer is kept: enough to tell an error page, never a stored body."""


class RefusedTarget(Exception):
    """The URL may not be called (scheme, or an address that is not public): never retried."""


class CallFailed(Exception):
    """No answer within the deadline (DNS, connection, TLS, timeout): worth retrying."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_seconds: float,
    allow_private: bool,
) -> Answer:
    """POST `body` to `url`; the status and a short excerpt of the answer, whatever the
    status (a redirect is an answer too, and not followed)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise RefusedTarget(f"only http and https URLs may be called, not {url[:100]!r}")
    deadline = time.monotonic() + timeout_seconds
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(parts.hostname, port, allow_private)
    connection = _connection(parts, port, addresses, deadline)
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0), _cut, (connection,))
    watchdog.start()
    try:
        connection.request("POST", _target(parts), body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
        return Answer(response.status, excerpt)
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline:
            raise CallFailed(f"no answer within {timeout_seconds:g} s") from None
        raise CallFailed(f"the connection failed: {_describe(exc)}") from None
    finally:
        watchdog.cancel()
        connection.close()


def _resolve(host: str, port: int, allow_private: bool) -> list[IpAddress]:
    """Every address the host resolves to, each checked; refused if any is not public."""
    literal = literal_address(host)
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise CallFailed(f"the host {host!r} could not be resolved: {_describe(exc)}") from None
        found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not allow_private:
        for address in found:
            reason = refused_address(address)
            if reason is not None:
                raise RefusedTarget(
                    f"{host} resolves to {reason}; set WEBHOOK_ALLOW_PRIVATE=1 to allow it"
                )
    return found


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever `host` (the Host header) resolves to now."""

    def __init__(self, host: str, port: int, address: IpAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Like `_PinnedHTTPConnection`, with SNI and the certificate checked for the host name."""

    def __init__(self, host: str, port: int, address: IpAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=client_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _connection(
    parts: SplitResult, port: int, addresses: list[IpAddress], deadline: float
) -> http.client.HTTPConnection:
    """An open connection to the first checked address that answers before the deadline."""
    kind = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    error: Exception | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = kind(str(parts.hostname), port, address, remaining)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            error = exc
            continue
        return connection
    raise CallFailed(f"could not connect to {parts.hostname}: {_describe(error)}")


def _cut(connection: http.client.HTTPConnection) -> None:
    """At the deadline: shut the socket down, which wakes a read blocked on a slow answer."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _target(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _describe(exc: Exception | None) -> str:
    if exc is None or isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__
