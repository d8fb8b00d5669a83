"""Server-rendered pages: sign-in, sequences and their builder, enrollments, outbox, unsubscribe."""

from flask import Blueprint

web_bp = Blueprint("web", __name__)

from app.web import (  # noqa: E402,F401  (routes register on import)
    auth,
    builder,
    contacts,
    enrollment_page,
    forms,
    gallery,
    health_page,
    launch,
    mailboxes,
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
