"""Tracking links in sent mail: the click redirect and the open pixel. Public GETs, no login.

`/t/c/<token>` redirects only to the URL stored on the message for the token's position,
never to anything taken from the request; `/t/o/<token>.gif` always answers the 1x1 GIF.
Both answer every request; a repeat by the same client within the dedup window is simply
not recorded again (see app.services.tracking).
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, redirect, request

from app.extensions import db
from app.services.tracking import record_click, record_open, resolve_click
from app.web import web_bp

log = logging.getLogger(__name__)

PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
"""A transparent 1x1 GIF."""


@web_bp.get("/t/c/<token>")
def tracked_click(token: str) -> Any:
    now = datetime.now(UTC)
    click = resolve_click(token)
    if click is None:
        abort(404)  # the stock page: nothing from the request is echoed back
    try:
        record_click(click, _client_ip(), request.headers.get("User-Agent"), request.method, now)
    except Exception:  # the visitor still gets where the link goes
        _rollback()
        log.exception("could not record a click on message %s", click.message.id)
    response = redirect(click.url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@web_bp.get("/t/o/<token>.gif")
def tracked_open(token: str) -> Any:
    now = datetime.now(UTC)
    if request.method == "GET":  # a HEAD is a scanner checking the image, not an open
        try:
            record_open(token, _client_ip(), request.headers.get("User-Agent"), now)
        except Exception:  # a mail client gets its image whatever happens here
            _rollback()
            log.exception("could not record an open")
    response = Response(PIXEL_GIF, status=200, mimetype="image/gif")
    response.headers["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0"
    return response


def _client_ip() -> str:
    return request.remote_addr or ""


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:
        log.exception("rollback after a tracking failure failed too")
