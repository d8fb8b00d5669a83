"""Build the MIME message for one send.

Every header value is validated here rather than left to the `email` package: Python 3.11.7
predates the CVE-2024-6923 fix, so a newline smuggled into a header value is not reliably
quoted when the message is serialised.
"""

from __future__ import annotations

import base64
import email.policy
import re
from collections.abc import Mapping
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
        prefix = f"{self.name}: "
        if not address.display_name:
            return f"{prefix}{address.addr_spec}{policy.linesep}"
        words = [*_phrase_words(address.display_name, _MAX_LINE - len(prefix))]
        words.append(f"<{address.addr_spec}>")
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


_HEADER_TYPES = HeaderRegistry()
_HEADER_TYPES.map_to_type("list-unsubscribe", _UriListHeader)
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

# Headers this module owns, or that would change who receives the message (send_message
# takes recipients from To/Cc/Bcc/Resent-*): extra_headers may not set them.
_RESERVED_HEADERS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "reply-to",
        "in-reply-to", "references",
        "list-unsubscribe", "list-unsubscribe-post", "mime-version",
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


def _check_extra_header(name: str, value: str) -> None:
    lowered = name.lower()
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    if lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_PREFIXES):
        raise ValueError(f"header {name} is set by compose_message and cannot be overridden")
    _require_single_line(f"header {name}", value)


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
) -> EmailMessage:
    """Build a multipart/alternative message with one-click unsubscribe (RFC 8058) headers.

    Raises ValueError for anything that could not safely become a header.
    """
    if sent_at.utcoffset() is None:
        raise ValueError("sent_at must be timezone-aware")
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"Message-ID must look like <unique@domain>: {message_id!r}")
    _require_single_line("subject", rendered.subject)
    for name, value in (extra_headers or {}).items():
        _check_extra_header(name, value)
    for earlier in (in_reply_to, *references):
        if earlier is not None and not _MESSAGE_ID.fullmatch(earlier):
            raise ValueError(f"a replied-to Message-ID must look like <unique@domain>: {earlier!r}")

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
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    msg.attach(_text_part("plain", rendered.text))
    msg.attach(_text_part("html", rendered.html))
    return msg


def _text_part(subtype: str, body: str) -> MIMEPart:
    # A MIMEPart, not EmailMessage.add_alternative: that one stamps MIME-Version on each part.
    part = MIMEPart(policy=_POLICY)
    part.set_content(body, subtype=subtype, charset="utf-8")
    return part
