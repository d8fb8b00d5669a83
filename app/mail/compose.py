"""Build the MIME message for one send.

Every header value is validated here rather than left to the `email` package: Python 3.11.7
predates the CVE-2024-6923 fix, so a newline smuggled into a header value is not reliably
quoted when the message is serialised.
"""

from __future__ import annotations

import base64
import email.policy
import functools
import random
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import (
    Address,
    HeaderRegistry,
    UniqueAddressHeader,
    UnstructuredHeader,
)
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from urllib.parse import urlsplit

from app.mail.quoted_printable import encode_text
from app.mail.rendering import RenderedEmail


class _UriListHeader(UnstructuredHeader):
    """List-Unsubscribe folded only between its <...> targets.

    The default folding turns a long URL into RFC 2047 encoded-words, which mail clients do
    not decode in this header: the unsubscribe link would be broken.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        return f"{self.name}: " + f",{policy.linesep} ".join(str(self).split(", ")) + policy.linesep


_MAX_LINE = 998  # RFC 5322, without the CRLF
_ENCODED_WORD = "=?utf-8?b?{}?="


class _MailboxHeader(UniqueAddressHeader):
    """From/To with the display name kept whole whatever it holds.

    The `email` package's folding can split a long display name at its commas and drop the
    quotes (`To: Bob, attacker@evil.test,<fold> xxxx <real@...>`: three recipients to a mail
    client). Here the name is one quoted string (ASCII) or one RFC 2047 encoded word
    (anything else, or text that looks like an encoded word), on a line of its own when
    long; the only fold is before `<addr-spec>`.
    """

    def fold(self, *, policy: email.policy.Policy) -> str:
        [address] = self.addresses
        return _mailbox_line(self.name, address.display_name, address.addr_spec, policy)


def _mailbox_line(name: str, display_name: str, addr_spec: str, policy: email.policy.Policy) -> str:
    """The folded From/To header line (see _MailboxHeader)."""
    prefix = f"{name}: "
    if not display_name:
        return f"{prefix}{addr_spec}{policy.linesep}"
    words = [*_phrase_words(display_name, _MAX_LINE - len(prefix))]
    words.append(f"<{addr_spec}>")
    one_line = prefix + " ".join(words)
    if len(words) == 2 and len(one_line) <= policy.max_line_length:
        return one_line + policy.linesep
    return prefix + f"{policy.linesep} ".join(words) + policy.linesep


def _phrase_words(name: str, room: int) -> list[str]:
    """The display name as one word of at most `room` characters: a quoted string (ASCII)
    or a single encoded word, longer than RFC 2047's 75 characters when need be, because
    common parsers (Python's among them) put a space between adjacent encoded words.

    Only a name too long for one line becomes several encoded words (still one phrase,
    still one address), each of whole characters."""
    if name.isascii() and "=?" not in name:
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= room:
            return [quoted]
    most = (room - len(_ENCODED_WORD.format(""))) // 4 * 3  # UTF-8 bytes per word
    chunks, chunk, size = [], "", 0
    for char in name:
        width = len(char.encode())
        if size + width > most:
            chunks.append(chunk)
            chunk, size = "", 0
        chunk, size = chunk + char, size + width
    chunks.append(chunk)
    return [_ENCODED_WORD.format(base64.b64encode(c.encode()).decode("ascii")) for c in chunks]


class _VerbatimHeader(UnstructuredHeader):
    """A header written exactly as composed (List-Id's encoded-word name, a DKIM signature),
    folded only at its own spaces: refolding could re-encode it or, for the signature, break
    a tag value in two."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, object]) -> None:
        super().parse(value, kwds)
        kwds["decoded"] = value

    def fold(self, *, policy: email.policy.Policy) -> str:
        lines = [f"{self.name}:"]
        for word in str(self).split(" "):
            if len(lines[-1]) + 1 + len(word) > policy.max_line_length and lines[-1].strip(":"):
                lines.append("")
            lines[-1] += f" {word}"
        return policy.linesep.join(lines) + policy.linesep


_HEADER_TYPES = HeaderRegistry()
_HEADER_TYPES.map_to_type("list-unsubscribe", _UriListHeader)
_HEADER_TYPES.map_to_type("list-id", _VerbatimHeader)
_HEADER_TYPES.map_to_type("dkim-signature", _VerbatimHeader)
_HEADER_TYPES.map_to_type("from", _MailboxHeader)
_HEADER_TYPES.map_to_type("to", _MailboxHeader)
# SMTP line endings; 7bit so non-ASCII bodies go out quoted-printable/base64, which any server
# relays, instead of 8bit, which needs the 8BITMIME extension on every hop.
_POLICY = email.policy.SMTP.clone(cte_type="7bit", header_factory=_HEADER_TYPES)

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
_MESSAGE_ID = re.compile(rf"<{_DOT_ATOM.pattern}@{_DOT_ATOM.pattern}>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ":" (RFC 5322 ftext)
# Printable ASCII except space, '"', "<" and ">"; short enough to fit one header line.
_URI = re.compile(r"[!#-;=?-~]{1,900}")
_LIST_NAME_CHARS = 100

# Headers this module owns, or that would change who receives the message (send_message
# takes recipients from To/Cc/Bcc/Resent-*): extra_headers may not set them.
_RESERVED_HEADERS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to",
        "in-reply-to", "references",
        "list-unsubscribe", "list-unsubscribe-post", "list-id", "mime-version",
        "dkim-signature",
    }
)  # fmt: skip
_RESERVED_PREFIXES = ("content-", "resent-")


def _require_single_line(label: str, value: str) -> None:
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"{label} contains a line break or control character")


def _address(label: str, addr_spec: str, display_name: str | None) -> Address:
    _require_single_line(label, addr_spec)
    _require_single_line(f"{label} name", display_name or "")
    invalid = ValueError(f"{label} is not a valid email address: {addr_spec!r}")
    local, at, domain = addr_spec.rpartition("@")
    if not (local and at and domain):  # also spares the parser inputs it crashes on ("x@")
        raise invalid
    try:
        address = Address(display_name=display_name or "", addr_spec=addr_spec)
    except (ValueError, HeaderParseError) as exc:
        raise invalid from exc
    if address.addr_spec != addr_spec:  # the parser skipped comments or whitespace
        raise invalid
    return address


def make_message_id(unique: str, domain: str) -> str:
    """Return `<unique@domain>`; both parts must be dot-atoms so the header cannot be bent."""
    for label, part in (("unique part", unique), ("domain", domain)):
        if not _DOT_ATOM.fullmatch(part):
            raise ValueError(f"Message-ID {label} is not a dot-atom: {part!r}")
    return f"<{unique}@{domain}>"


def _list_unsubscribe(url: str, mailto: str | None) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or not _URI.fullmatch(url):
        raise ValueError(f"unsubscribe_url must be an absolute http(s) URL: {url!r}")
    targets = [f"<{url}>"]
    if mailto is not None:
        if not mailto.startswith("mailto:") or not _URI.fullmatch(mailto):
            raise ValueError(f"unsubscribe_mailto must be a mailto: URI: {mailto!r}")
        targets.append(f"<{mailto}>")
    return ", ".join(targets)


def list_id(name: str, identifier: str) -> str:
    """`List-Id: "<name>" <identifier>` (RFC 2919): the name as one quoted string or one
    encoded word, the identifier a dot-atom with a namespace (`<sequence-id>.<domain>`)."""
    if not _DOT_ATOM.fullmatch(identifier) or "." not in identifier:
        raise ValueError(f"List-Id identifier is not a dot-atom with a domain: {identifier!r}")
    name = " ".join(_CONTROL_CHARS.sub(" ", name).split())[:_LIST_NAME_CHARS]
    if not name:
        return f"<{identifier}>"
    return f"{' '.join(_phrase_words(name, _MAX_LINE // 2))} <{identifier}>"


def _check_extra_header(name: str, value: str) -> None:
    lowered = name.lower()
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    if lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
        raise ValueError(f"header {name} is set by compose_message and cannot be overridden")
    _require_single_line(f"header {name}", value)


def _check_message(
    rendered: RenderedEmail,
    message_id: str,
    sent_at: datetime,
    in_reply_to: str | None,
    references: tuple[str, ...],
) -> None:
    if sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"Message-ID must look like <unique@domain>: {message_id!r}")
    _require_single_line("subject", rendered.subject)
    for earlier in (in_reply_to, *references):
        if earlier is not None and not _MESSAGE_ID.fullmatch(earlier):
            raise ValueError(f"a replied-to Message-ID must look like <unique@domain>: {earlier!r}")


def compose_message(
    *,
    rendered: RenderedEmail,
    from_email: str,
    from_name: str | None,
    to_email: str,
    to_name: str | None,
    message_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None = None,
    sent_at: datetime,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    extra_headers: Mapping[str, str] | None = None,
    list_name: tuple[str, str] | None = None,
) -> EmailMessage:
    """Build a multipart/alternative message with one-click unsubscribe (RFC 8058) headers,
    or a text/plain one when the rendered email has no HTML. `list_name` is the sequence's
    (name, identifier) for List-Id: mail filters and receivers tell a list by it.

    Raises ValueError for anything that could not safely become a header.
    """
    _check_message(rendered, message_id, sent_at, in_reply_to, references)
    for name, value in (extra_headers or {}).items():
        _check_extra_header(name, value)

    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address("from_email", from_email, from_name)
    msg["To"] = _address("to_email", to_email, to_name)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(sent_at.astimezone(UTC))
    msg["Message-ID"] = message_id
    if reply_to:
        msg["Reply-To"] = _address("reply_to", reply_to, None)
    if in_reply_to:  # a reply in the same thread (RFC 5322 3.6.4)
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(references or (in_reply_to,))
    msg["List-Unsubscribe"] = _list_unsubscribe(unsubscribe_url, unsubscribe_mailto)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if list_name is not None:
        msg["List-Id"] = list_id(*list_name)
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    if not rendered.html:
        msg.set_content(rendered.text, subtype="plain", charset="utf-8")
        return msg
    msg.make_alternative()
    msg.attach(_text_part("plain", rendered.text))
    msg.attach(_text_part("html", rendered.html))
    return msg


def _text_part(subtype: str, body: str) -> MIMEPart:
    # A MIMEPart, not EmailMessage.add_alternative: that one stamps MIME-Version on each part.
    part = MIMEPart(policy=_POLICY)
    part.set_content(body, subtype=subtype, charset="utf-8")
    return part


# --- the same message as bytes, from a per-sender skeleton ---------------------------------------
# `compose_message` builds an EmailMessage and the generator flattens it: most of a send's CPU
# time. `message_bytes` writes the same headers, folded the same way, and the same MIME
# structure and body encodings, straight to bytes: what every message of a step shares (From,
# Reply-To, the list headers) is folded once per sender by the `email` package itself, and per
# message only the contact's headers and parts are written. Header values that are not plain
# short ASCII are still folded by the `email` package, so both builders agree on every input.

_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM.pattern}@{_DOT_ATOM.pattern}")
_CRLF = "\r\n"


def plain_address(addr_spec: str) -> bool:
    """An ASCII dot-atom address: `message_bytes` can write it and SMTP needs no SMTPUTF8."""
    return _PLAIN_ADDRESS.fullmatch(addr_spec) is not None


def fold_header(name: str, value: object) -> str:
    """One header line (with its CRLF) exactly as an EmailMessage writes it."""
    return _POLICY.fold(name, _POLICY.header_store_parse(name, value)[1])


def _line(name: str, value: str) -> str:
    """A header line, written directly when plain short ASCII leaves nothing to fold or
    encode, else folded by the `email` package."""
    fits = len(name) + 2 + len(value) <= _POLICY.max_line_length
    if fits and value.isascii() and value.isprintable() and "=?" not in value:
        return f"{name}: {value}{_CRLF}"
    return fold_header(name, value)


@dataclass(frozen=True, slots=True)
class Skeleton:
    """The header lines every message from one sender (a step's, with its variant) shares."""

    from_line: str
    reply_to_line: str
    tail: str  # List-Unsubscribe-Post, List-Id and MIME-Version


@functools.lru_cache(maxsize=1024)
def skeleton(
    from_email: str, from_name: str | None, reply_to: str | None, list_name: tuple[str, str] | None
) -> Skeleton:
    """Folded once per sender; ValueError for an address or list name that cannot go."""
    reply_to_line = ""
    if reply_to:
        reply_to_line = fold_header("Reply-To", _address("reply_to", reply_to, None))
    tail = fold_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    if list_name is not None:
        tail += fold_header("List-Id", list_id(*list_name))
    return Skeleton(
        fold_header("From", _address("from_email", from_email, from_name)),
        reply_to_line,
        tail + fold_header("MIME-Version", "1.0"),
    )


@functools.lru_cache(maxsize=4)
def _date_line(sent_at: datetime) -> str:
    return fold_header("Date", format_datetime(sent_at.astimezone(UTC)))


def _part(subtype: str, body: str) -> tuple[str, str]:
    """A text part's headers and encoded body, as `set_content(..., charset="utf-8")` makes
    them: the standard library's own choice of 7bit, quoted-printable or base64."""
    cte, data = encode_text(body, _POLICY.max_line_length, _POLICY.linesep)
    head = f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}Content-Transfer-Encoding: {cte}'
    return head + _CRLF, _CRLF.join(data.splitlines()) + _CRLF


def _boundary(parts: str) -> str:
    """A multipart boundary in the `email` package's style that no part contains (random,
    not secret, as the package's own: no system call per message)."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
        if boundary not in parts:
            return boundary


def message_bytes(
    *,
    rendered: RenderedEmail,
    from_email: str,
    from_name: str | None,
    to_email: str,
    to_name: str | None,
    message_id: str,
    unsubscribe_url: str,
    sent_at: datetime,
    reply_to: str | None = None,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    list_name: tuple[str, str] | None = None,
) -> bytes:
    """`compose_message(...).as_bytes()` for a plain (ASCII dot-atom) recipient, without
    building an EmailMessage; the same checks, the same ValueErrors."""
    _check_message(rendered, message_id, sent_at, in_reply_to, references)
    if not plain_address(to_email):
        raise ValueError(f"to_email is not a plain ASCII address: {to_email!r}")
    _require_single_line("to_email name", to_name or "")
    shared = skeleton(from_email, from_name, reply_to, list_name)
    head = [
        shared.from_line,
        _mailbox_line("To", to_name or "", to_email, _POLICY),
        _line("Subject", rendered.subject),
        _date_line(sent_at),
        _line("Message-ID", message_id),
        shared.reply_to_line,
    ]
    if in_reply_to:
        head += [_line("In-Reply-To", in_reply_to)]
        head += [_line("References", " ".join(references or (in_reply_to,)))]
    targets = _list_unsubscribe(unsubscribe_url, None)
    if "=?" in targets:  # left to the header class, which reads encoded words
        head += [fold_header("List-Unsubscribe", targets), shared.tail]
    else:  # one <URL> of printable ASCII: one line whatever its length (see _UriListHeader)
        head += [f"List-Unsubscribe: {targets}{_CRLF}", shared.tail]
    if not rendered.html:
        part_head, body = _part("plain", rendered.text)
        return "".join([*head, part_head, _CRLF, body]).encode("ascii")
    parts = [_part("plain", rendered.text), _part("html", rendered.html)]
    boundary = _boundary("".join(body for _, body in parts))
    head.append(f'Content-Type: multipart/alternative;{_CRLF} boundary="{boundary}"{_CRLF}')
    out = [*head, _CRLF]
    for part_head, body in parts:
        out += [f"--{boundary}{_CRLF}", part_head, _CRLF, body, _CRLF]
    out.append(f"--{boundary}--{_CRLF}")
    return "".join(out).encode("ascii")
