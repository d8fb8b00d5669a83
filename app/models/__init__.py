"""The typed SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.contact import (
    Contact,
    ContactEvent,
    EventReceipt,
    Segment,
    SegmentMembership,
    Suppression,
)
from app.models.enrollment import ContactSequence, StepLog
from app.models.message import OutboundMessage
from app.models.sequence import Sequence, SequenceConnection, SequenceStep
from app.models.tenancy import ApiToken, Tenant, User, Workspace

__all__ = [
    "ApiToken",
    "Contact",
    "ContactEvent",
    "ContactSequence",
    "EventReceipt",
    "OutboundMessage",
    "Segment",
    "SegmentMembership",
    "Sequence",
    "SequenceConnection",
    "SequenceStep",
    "StepLog",
    "Suppression",
    "Tenant",
    "User",
    "Workspace",
]
