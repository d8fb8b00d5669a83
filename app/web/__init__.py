"""Server-rendered pages: sign-in, sequences, enrollments, outbox, and the unsubscribe page."""

from flask import Blueprint

web_bp = Blueprint("web", __name__)

from app.web import auth, pages, unsubscribe  # noqa: E402,F401  (routes register on import)
