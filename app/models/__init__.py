"""The typed SQLAlchemy models, one module per aggregate; importing this registers them all."""

from app.models.contact import (
    Contact,
    ContactEvent,
    EventReaction,
    EventReceipt,
    Segment,
    SegmentMembership,
    Suppression,
)
from app.models.contact_import import ContactImport
from app.models.enrollment import (
    ContactSequence,
    Conversion,
    EnrollmentChange,
    EnrollmentRun,
    StepLog,
)
from app.models.experiment import AbTestDecision
from app.models.form import Form, FormSubmission
from app.models.inbox import InboxReceipt, Mailbox
from app.models.job_run import JobRun
from app.models.message import MessageAttempt, OutboundMessage
from app.models.outbound_call import OutboundCall
from app.models.provider_hook import ProviderHook
from app.models.sending_domain import SendingDomain
from app.models.sequence import Sequence, SequenceConnection, SequenceStep
from app.models.template import SequenceTemplate
from app.models.tenancy import ApiToken, Tenant, User, Workspace
from app.models.tracking import TrackingHit
from app.models.version import SequenceVersion

__all__ = [
    "AbTestDecision",
    "ApiToken",
    "Contact",
    "ContactEvent",
    "ContactImport",
    "ContactSequence",
    "Conversion",
    "EnrollmentChange",
    "EnrollmentRun",
    "EventReaction",
    "EventReceipt",
    "Form",
    "FormSubmission",
    "InboxReceipt",
    "JobRun",
    "Mailbox",
    "MessageAttempt",
    "OutboundCall",
    "OutboundMessage",
    "ProviderHook",
    "Segment",
    "SegmentMembership",
    "SendingDomain",
    "Sequence",
    "SequenceConnection",
    "SequenceStep",
    "SequenceTemplate",
    "SequenceVersion",
    "StepLog",
    "Suppression",
    "Tenant",
    "TrackingHit",
    "User",
    "Workspace",
]
