"""Server-rendered pages: sign-in, sequences and their builder, enrollments, outbox, unsubscribe."""

from flask import Blueprint

web_bp = Blueprint("web", __name__)

from app.web import (  # noqa: E402,F401  (routes register on import)
    audit,
    auth,
    builder,
    contact_actions,
    contacts,
    enrollment_list,
    enrollment_page,
    forms,
    gallery,
    health_page,
    interventions,
    launch,
    mailboxes,
    outbox,
    pages,
    panels,
    provider_hooks,
    report,
    segments,
    sending_domains,
    settings,
    timeline,
    tracking,
    unsubscribe,
    versions,
)
