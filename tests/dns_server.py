"""A real DNS server on 127.0.0.1 for tests (dnslib): it answers the TXT records it is
given and NXDOMAIN for any other name, so DNS checks and DKIM verification run against
published records, not mocks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer

from tests.smtp_sink import free_port


class _Quiet:
    """dnslib's logger prints every query; the tests need none of it."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


class TxtZone(BaseResolver):
    """TXT records by name; publish or withdraw them while the server runs."""

    def __init__(self) -> None:
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def publish(self, name: str, value: str) -> None:
        with self._lock:
            self._records.setdefault(name.rstrip(".").lower(), []).append(value)

    def withdraw(self, name: str) -> None:
        with self._lock:
            self._records.pop(name.rstrip(".").lower(), None)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self._lock:
            values = list(self._records.get(name, []))
        if not values:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in values:  # strings of at most 255 bytes, as DNS requires
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


class LocalDns:
    def __init__(self) -> None:
        self.zone = TxtZone()
        self.port = free_port()
        self._server = DNSServer(self.zone, address="127.0.0.1", port=self.port, logger=_Quiet())

    @property
    def address(self) -> str:
        """As the DNS_RESOLVER setting takes it."""
        return f"127.0.0.1:{self.port}"


def running_dns() -> Iterator[LocalDns]:
    """A fixture body: `yield from running_dns()` starts a server and stops it afterwards."""
    dns = LocalDns()
    dns._server.start_thread()
    try:
        yield dns
    finally:
        dns._server.stop()
