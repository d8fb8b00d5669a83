"""The skeleton builder (`message_bytes`) writes what the `email` package writes.

The dispatcher sends `message_bytes`; the outbox's message page and addresses only the
`email` package can write still use `compose_message`. For every kind of input here both
must give the same message: the same bytes once the random multipart boundary is set
aside, and the same headers and parts when a receiver parses them.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, cast

import pytest

from app.mail.compose import compose_message, message_bytes, plain_address
from app.mail.rendering import RenderedEmail

pytestmark = pytest.mark.local_time  # the Date header

SENT_AT = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
BASE: dict[str, Any] = {
    "rendered": RenderedEmail("Welcome, Ada", "<p>Hi Ada</p>", "Hi Ada"),
    "from_email": "news@penguin.test",
    "from_name": "Penguin, Inc.",
    "to_email": "ada@example.test",
    "to_name": "Ada Lovelace",
    "message_id": "<send-42.abc@penguin.test>",
    "unsubscribe_url": "https://pm.test/u/tok123",
    "sent_at": SENT_AT,
}
LONG_LINE = "word " * 40
CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "text only": {"rendered": RenderedEmail("Hi", "", "Just text\n\nbye")},
    "empty text": {"rendered": RenderedEmail("Hi", "<p>x</p>", "")},
    "non-ASCII subject and body": {
        "rendered": RenderedEmail("Grüße, Zoë ☃", "<p>Zoë &amp; 日本</p>", "Zoë & 日本")
    },
    "long subject": {"rendered": RenderedEmail("A subject " * 20, "<p>x</p>", "x")},
    "long non-ASCII subject": {"rendered": RenderedEmail("Zoë sagt " * 20, "<p>x</p>", "x")},
    "subject like an encoded word": {"rendered": RenderedEmail("=?utf-8?q?x?=", "<p>x</p>", "x")},
    "long ASCII lines (quoted-printable)": {
        "rendered": RenderedEmail("Hi", f"<p>{LONG_LINE}</p>", LONG_LINE)
    },
    "mostly non-ASCII (base64)": {
        "rendered": RenderedEmail("Hi", "<p>" + "日本語" * 80 + "</p>", "日本語" * 80)
    },
    "lines with a leading dot and CR": {
        "rendered": RenderedEmail("Hi", "<p>x</p>\r\n.\r\n.dot", ".\nfrom\rme")
    },
    "no names": {"from_name": None, "to_name": None},
    "non-ASCII names": {"from_name": "Zoë's Café", "to_name": "José Müller"},
    "names with commas and quotes": {
        "from_name": 'The "Best", Inc.',
        "to_name": "Bob, attacker@evil.test, x",
    },
    "name like an encoded word": {"to_name": "=?utf-8?b?eA==?="},
    "very long name": {"to_name": "Ada " * 60},
    "reply-to and list name": {
        "reply_to": "replies@penguin.test",
        "list_name": ("Zoë's onboarding, week 1", "1234.penguin.test"),
    },
    "in a thread": {
        "in_reply_to": "<first.1@penguin.test>",
        "references": ("<first.1@penguin.test>", "<second.2@penguin.test>"),
    },
    "long unsubscribe URL": {"unsubscribe_url": "https://pm.test/u/" + "t" * 200},
    "UTC": {"sent_at": datetime(2026, 12, 6, 23, 59, tzinfo=UTC)},
}


def _without_boundary(data: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', data)
    return data.replace(found.group(1), b"BOUNDARY") if found else data


def _parsed(data: bytes) -> EmailMessage:
    return cast(EmailMessage, email.message_from_bytes(data, policy=email.policy.default))


@pytest.mark.parametrize("case", CASES)
def test_the_skeleton_builder_writes_the_same_message_as_the_email_package(case: str) -> None:
    arguments = BASE | CASES[case]
    reference = compose_message(**arguments).as_bytes()
    built = message_bytes(**arguments)

    assert _without_boundary(built) == _without_boundary(reference)
    assert all(len(line) <= 998 for line in built.split(b"\r\n"))
    ours, theirs = _parsed(built), _parsed(reference)
    assert [(k, str(v)) for k, v in ours.items() if k != "Content-Type"] == [
        (k, str(v)) for k, v in theirs.items() if k != "Content-Type"
    ]
    assert ours.get_content_type() == theirs.get_content_type()
    ours_parts = list(ours.walk())[-2:] if ours.is_multipart() else [ours]
    theirs_parts = list(theirs.walk())[-2:] if theirs.is_multipart() else [theirs]
    for mine, reference_part in zip(ours_parts, theirs_parts, strict=True):
        assert mine["Content-Transfer-Encoding"] == reference_part["Content-Transfer-Encoding"]
        assert mine.get_content() == reference_part.get_content()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"message_id": "<no-domain>"}, "Message-ID must look like"),
        ({"rendered": RenderedEmail("Hi\r\nBcc: x@evil.test", "", "x")}, "subject contains"),
        ({"to_name": "Ada\r\nBcc: x@evil.test"}, "to_email name contains"),
        ({"from_email": "not an address"}, "from_email is not a valid email address"),
        ({"unsubscribe_url": "javascript:alert(1)"}, "unsubscribe_url must be"),
        ({"in_reply_to": "<x>"}, "replied-to Message-ID"),
        ({"sent_at": datetime(2026, 1, 2)}, "timezone-aware"),  # naive: refused
    ],
)
def test_both_builders_refuse_the_same_inputs(overrides: dict[str, Any], error: str) -> None:
    arguments = BASE | overrides
    with pytest.raises(ValueError, match=error):
        compose_message(**arguments)
    with pytest.raises(ValueError, match=error):
        message_bytes(**arguments)


def test_only_plain_ascii_addresses_go_through_the_skeleton_builder() -> None:
    assert plain_address("ada.l+news@example.test")
    assert not plain_address("zoë@example.test")
    assert not plain_address('"ada l"@example.test')
    with pytest.raises(ValueError, match="to_email is not a plain ASCII address"):
        message_bytes(**BASE | {"to_email": "zoë@example.test"})
