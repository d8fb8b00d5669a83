"""An SMTP sink that takes each message whole, then hangs up instead of answering.

The client has sent the content and the terminating dot but never hears 250 or an error:
whether the message was accepted is unknown to it (here it was: the sink records it).
"""

from __future__ import annotations

import asyncio

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.smtp_sink import SmtpSink


class DroppingSmtpSink(SmtpSink):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await super().handle_DATA(server, session, envelope)
        assert server.transport is not None
        server.transport.close()
        await asyncio.Event().wait()  # cancelled by aiosmtpd once the connection is gone
        raise AssertionError("unreachable: the connection was closed")
