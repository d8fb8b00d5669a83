"""An SMTP sink that is slow to answer each message, like a busy server.

It takes each message (records it) as soon as the content has arrived, then waits `delay`
seconds before saying 250: a batch of 200 takes seconds, long enough to kill its dispatcher
in the middle, and a dispatcher killed during that wait never learns that the message was
accepted, which is the case a crash-safe dispatcher must not send twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.smtp_sink import SmtpSink


class SlowSmtpSink(SmtpSink):
    def __init__(self, delay: float, **options: Any) -> None:
        super().__init__(**options)
        self.delay = delay

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.sleep(self.delay)
        return reply
