"""Server-rendered pages: sign-in, sequences and their builder, enrollments, outbox, unsubscribe."""

from flask import Blueprint

web_bp = Blueprint("web", __name__)

from app.web import auth, builder, launch, pages, panels, tracking, unsubscribe  # noqa: E402,F401  (routes register on import)
