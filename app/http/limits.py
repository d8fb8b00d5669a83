"""Request body limits: the import routes may carry a file, every other route a small body.

Flask answers a body over `MAX_CONTENT_LENGTH` with 413 as soon as it is read (from the
Content-Length header alone when one is sent), so an oversized upload is never buffered.
"""

from __future__ import annotations

from typing import NoReturn

from flask import current_app, request
from flask.wrappers import Request
from werkzeug.exceptions import BadRequest

from app.config import current_settings
from app.http.json_input import JsonRefused

# The routes that take a CSV or sequence file: they get MAX_IMPORT_REQUEST_BYTES.
IMPORT_ENDPOINTS = frozenset(
    {"web.upload_import", "web.sequence_import_upload", "api.import_sequence"}
)


class LimitedRequest(Request):
    """Flask's request with the import routes' larger body limit and JSON errors that say
    what is wrong (Flask hides the reason outside debug mode)."""

    @property
    def max_content_length(self) -> int | None:
        if self.endpoint in IMPORT_ENDPOINTS and current_app:
            return current_settings().max_import_request_bytes
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value

    def on_json_loading_failed(self, e: ValueError | None) -> NoReturn:
        if isinstance(e, JsonRefused):
            raise BadRequest(str(e)) from e
        raise BadRequest(f"the body is not valid JSON: {e}") from e


def too_large_message() -> str:
    """Which limit a 413 hit, in words: the whole body or one form field or part count."""
    limit = request.max_content_length
    length = request.content_length
    if limit is not None and (length is None or length > limit):
        return f"the request body is larger than {human_size(limit)}"
    return (
        f"a form field is larger than {human_size(request.max_form_memory_size or 0)} "
        f"or the form has more than {request.max_form_parts} parts"
    )


def human_size(size: int) -> str:
    if size % 2**20 == 0:
        return f"{size // 2**20} MB"
    return f"{size:,} bytes"
