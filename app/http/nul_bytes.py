"""No field may contain a NUL character or a lone surrogate: PostgreSQL cannot store either
in text, UTF-8 cannot encode a lone surrogate, and no name, subject, address or search
means one. Refused for the whole request with 400 naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from app.http.limits import IMPORT_ENDPOINTS

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class UnstorableText(BadRequest):
    """A 400 naming the field that carried a NUL character or a lone surrogate."""

    def __init__(self, field: str, problem: str = "must not contain a NUL character") -> None:
        self.field = _printable(field)
        super().__init__(f"{self.field} {problem}")


def refuse_unstorable_text() -> None:
    """Before every view: the query, the URL's parts, form fields and JSON strings.

    The import routes read their body as a file (of any content type), so their form is left
    for them to parse; their JSON is still checked."""
    for field, text in _request_strings():
        if "\x00" in text:
            raise UnstorableText(field)
        if _SURROGATE.search(text):
            raise UnstorableText(field, "must be valid Unicode text (it holds a lone surrogate)")


_SURROGATE = re.compile("[\ud800-\udfff]")
"""A surrogate left in a decoded string: JSON's escapes of a valid pair become one
character, so what remains is a half of one."""


def _printable(field: str) -> str:
    return _SURROGATE.sub("?", field.replace("\x00", "\\0"))


def _request_strings() -> Iterator[tuple[str, str]]:
    yield from _pairs(request.args.items(multi=True))
    yield from _pairs((request.view_args or {}).items())
    if request.mimetype in FORM_TYPES and request.endpoint not in IMPORT_ENDPOINTS:
        yield from _pairs(request.form.items(multi=True))
        yield from (
            (name, upload.filename or "") for name, upload in request.files.items(multi=True)
        )
    if request.is_json and (body := request.get_data(cache=True)):
        document = request.get_json()  # parsed here, so a refused body is a 400 at once
        if may_hold_unstorable(body):
            yield from json_strings(document)


def may_hold_unstorable(body: bytes) -> bool:
    """A JSON string holds a NUL or a surrogate only where the text escapes one (`\\u0000`,
    `\\ud800`) or carries one raw (a NUL byte, which UTF-16 and UTF-32 text has too, or a
    surrogate's three bytes, which the app's JSON decoding lets through): the parser refuses
    raw control characters in strings. Otherwise no string can hold one and none is walked."""
    return b"\\u0000" in body or b"\x00" in body or _SURROGATE_BYTES.search(body) is not None


_SURROGATE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _pairs(items: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, str]]:
    for key, value in items:
        name = key or ""  # a multipart part may come without a name
        yield name, name
        if isinstance(value, str):
            yield name, value


def json_strings(document: Any) -> Iterator[tuple[str, str]]:
    """Every key and string value with its dotted path (`fields.note`, `steps.2.name`)."""
    pending: list[tuple[str, Any]] = [("body", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            yield path, value
        elif isinstance(value, dict):
            for key, item in value.items():
                child = key if path == "body" else f"{path}.{key}"
                yield child, key
                pending.append((child, item))
        elif isinstance(value, list):
            pending.extend((f"{path}.{index}", item) for index, item in enumerate(value))
