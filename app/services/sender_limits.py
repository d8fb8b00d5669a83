"""Sending domains' limits, applied by the dispatcher: at most `daily_cap` emails per UTC
day from a domain, and at least `min_spacing_seconds` between two of its sends, so a
warming-up domain's mail is spread over the day instead of leaving in one burst.

Per dispatch batch: one query for the limits of the batch's sender domains and, when any
has one, one for what each sent today and when it last sent. A message over the cap or
before its slot goes back to the queue for the next day or its slot (the claim's attempt
given back): deferred, never dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select, tuple_

from app.extensions import db
from app.models import OutboundMessage, SendingDomain
from app.models.message import SENT_STATUSES

Sender = tuple[uuid.UUID, str]  # (workspace id, domain of the From address)


@dataclass
class _Budget:
    cap: int | None
    spacing: timedelta | None
    used: dict[date, int]  # sends counted (done or reserved) per UTC day
    next_slot: datetime | None  # the earliest instant the next send may have


@dataclass
class SenderGate:
    """The batch's limited sending domains and what each may still send. Each message asked
    about gets a slot: now, or the next free one (spacing after the last, on a day with room
    under the cap), so a backlog is spread over the slots instead of retried in a pile."""

    budgets: dict[Sender, _Budget] = field(default_factory=dict)

    def admit(self, sender: Sender, now: datetime) -> tuple[datetime, str] | None:
        """None: send now. Else the slot it is deferred to, and why."""
        budget = self.budgets.get(sender)
        if budget is None:
            return None
        slot, why = now, ""
        if budget.next_slot is not None and budget.next_slot > now:
            seconds = int(budget.spacing.total_seconds()) if budget.spacing else 0
            slot, why = budget.next_slot, f"one email every {seconds} s at most"
        while budget.cap is not None and budget.used.get(slot.date(), 0) >= budget.cap:
            slot = datetime.combine(slot.date() + timedelta(days=1), time(), slot.tzinfo)
            why = f"{budget.cap} emails a day at most"
        budget.used[slot.date()] = budget.used.get(slot.date(), 0) + 1
        budget.next_slot = slot + budget.spacing if budget.spacing else None
        return None if slot <= now else (slot, f"{sender[1]} sends {why}")


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def sender_gate(senders: Iterable[Sender], now: datetime) -> SenderGate:
    """The limits of these senders and where each stands today (UTC day)."""
    wanted = list(set(senders))
    if not wanted:
        return SenderGate()
    limited = db.session.execute(
        select(
            SendingDomain.workspace_id,
            SendingDomain.domain,
            SendingDomain.daily_cap,
            SendingDomain.min_spacing_seconds,
        ).where(
            tuple_(SendingDomain.workspace_id, SendingDomain.domain).in_(wanted),
            SendingDomain.daily_cap.is_not(None) | SendingDomain.min_spacing_seconds.is_not(None),
        )
    ).all()
    if not limited:
        return SenderGate()
    day_start = datetime.combine(now.date(), time(), now.tzinfo)
    sent_at = OutboundMessage.sent_at
    keys = [(row.workspace_id, row.domain) for row in limited]
    stands = {
        (workspace_id, domain): (today or 0, last)
        for workspace_id, domain, today, last in db.session.execute(
            select(
                OutboundMessage.workspace_id,
                OutboundMessage.sender_domain,
                func.sum(case((sent_at >= day_start, 1), else_=0)),
                func.max(sent_at),
            )
            .where(
                tuple_(OutboundMessage.workspace_id, OutboundMessage.sender_domain).in_(keys),
                sent_at >= day_start - timedelta(days=1),
                OutboundMessage.status.in_(SENT_STATUSES),
            )
            .group_by(OutboundMessage.workspace_id, OutboundMessage.sender_domain)
        )
    }
    gate = SenderGate()
    for row in limited:
        key = (row.workspace_id, row.domain)
        spacing = timedelta(seconds=row.min_spacing_seconds) if row.min_spacing_seconds else None
        today, last = stands.get(key, (0, None))
        slot = last + spacing if last is not None and spacing is not None else None
        gate.budgets[key] = _Budget(row.daily_cap, spacing, {now.date(): int(today)}, slot)
    return gate
