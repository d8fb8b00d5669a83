"""The MIME message: structure, exact headers, and refusal of anything that could inject."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, cast

import pytest

from app.mail.compose import compose_message, make_message_id
from app.mail.rendering import RenderedEmail

pytestmark = pytest.mark.local_time  # the Date header and naive sent_at refused

RENDERED = RenderedEmail(subject="Welcome, Zoë", html="<p>Hi Zoë &amp; co</p>", text="Hi Zoë & co")
SENT_AT = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))


def compose(**overrides: Any) -> EmailMessage:
    arguments: dict[str, Any] = {
        "rendered": RENDERED,
        "from_email": "news@penguin.test",
        "from_name": "Penguin, Inc.",
        "to_email": "zoe@example.test",
        "to_name": "Zoë Z",
        "message_id": "<send-42.abc@penguin.test>",
        "unsubscribe_url": "https://pm.test/u/tok123",
        "sent_at": SENT_AT,
    }
    return compose_message(**(arguments | overrides))


def reparse(msg: EmailMessage) -> EmailMessage:
    """What a receiving server sees: the serialised bytes, parsed back."""
    return cast(EmailMessage, email.message_from_bytes(bytes(msg), policy=email.policy.default))


def test_message_is_multipart_alternative_with_text_then_html() -> None:
    received = reparse(compose())
    assert received.get_content_type() == "multipart/alternative"
    text_part, html_part = received.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert text_part.get_content_charset() == html_part.get_content_charset() == "utf-8"
    assert text_part.get_content().rstrip() == "Hi Zoë & co"
    assert html_part.get_content().rstrip() == "<p>Hi Zoë &amp; co</p>"
    assert "MIME-Version" not in text_part and "MIME-Version" not in html_part


def test_headers_are_exact() -> None:
    received = reparse(compose(unsubscribe_mailto="mailto:unsub@penguin.test?subject=unsubscribe"))
    assert received["From"] == '"Penguin, Inc." <news@penguin.test>'
    assert received["To"] == "Zoë Z <zoe@example.test>"
    assert received["Subject"] == "Welcome, Zoë"
    assert received["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"
    assert received["Message-ID"] == "<send-42.abc@penguin.test>"
    assert received["List-Unsubscribe"] == (
        "<https://pm.test/u/tok123>, <mailto:unsub@penguin.test?subject=unsubscribe>"
    )
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["MIME-Version"] == "1.0"


def test_list_unsubscribe_without_mailto() -> None:
    assert compose()["List-Unsubscribe"] == "<https://pm.test/u/tok123>"


def test_wire_format_is_crlf_ascii_with_short_lines_and_a_literal_long_url() -> None:
    url = "https://pm.test/u/" + "t" * 300 + "?x=1,2"
    raw = bytes(compose(unsubscribe_url=url, unsubscribe_mailto="mailto:u@pm.test"))
    raw.decode("ascii")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    # An RFC 2047 encoded-word inside List-Unsubscribe would break the link for mail clients.
    assert f"List-Unsubscribe: <{url}>,\r\n <mailto:u@pm.test>\r\n".encode() in raw


def test_extra_headers_are_added() -> None:
    msg = compose(extra_headers={"X-PM-Send": "42", "Feedback-ID": "s1:c2:pm"})
    assert msg["X-PM-Send"] == "42"
    assert msg["Feedback-ID"] == "s1:c2:pm"


def test_display_names_are_optional() -> None:
    received = reparse(compose(from_name=None, to_name=""))
    assert received["From"] == "news@penguin.test"
    assert received["To"] == "zoe@example.test"


@pytest.mark.parametrize(
    "field",
    ["from_email", "to_email", "from_name", "to_name"],
)
@pytest.mark.parametrize("smuggled", ["\r\nBcc: victim@x.test", "\nBcc: v@x.test", "\r", "\x00"])
def test_line_breaks_and_control_characters_in_addresses_are_refused(
    field: str, smuggled: str
) -> None:
    value = ("zoe@example.test" if field.endswith("email") else "Zoë") + smuggled
    with pytest.raises(ValueError, match="line break or control character"):
        compose(**{field: value})


@pytest.mark.parametrize(
    "address",
    ["nobody", "@example.test", "zoe@", "zoe@@example.test", "a b@example.test",
     "<zoe@example.test>", "zoe@example.test (comment)", "a@x.test, b@x.test", ""],
)  # fmt: skip
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(ValueError, match="to_email is not a valid email address"):
        compose(to_email=address)


def test_subject_with_a_line_break_is_refused() -> None:
    rendered = RenderedEmail(subject="Hi\r\nBcc: victim@x.test", html="<p>x</p>", text="x")
    with pytest.raises(ValueError, match="subject contains a line break"):
        compose(rendered=rendered)


def test_naive_sent_at_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose(sent_at=datetime(2026, 1, 2, 3, 4, 5))


def test_date_is_rendered_in_utc() -> None:
    assert compose(sent_at=datetime(2026, 7, 1, 12, 0, tzinfo=UTC))["Date"] == (
        "Wed, 01 Jul 2026 12:00:00 +0000"
    )


@pytest.mark.parametrize(
    "message_id",
    ["send-42@penguin.test", "<send-42>", "<a@b>\r\nBcc: x@y", "<a b@c>", "<a@b@c>", "<@b>"],
)
def test_malformed_message_ids_are_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="Message-ID"):
        compose(message_id=message_id)


@pytest.mark.parametrize(
    "url",
    ["/u/tok", "javascript:alert(1)", "ftp://pm.test/u", "https://pm.test/u tok",
     "https://pm.test/u>, <https://evil.test", "https://pm.test/u\r\nBcc: x@y", "https://"],
)  # fmt: skip
def test_unsafe_unsubscribe_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="unsubscribe_url"):
        compose(unsubscribe_url=url)


@pytest.mark.parametrize("mailto", ["unsub@pm.test", "mailto:a@b>, <https://evil.test"])
def test_unsafe_unsubscribe_mailto_is_refused(mailto: str) -> None:
    with pytest.raises(ValueError, match="unsubscribe_mailto"):
        compose(unsubscribe_mailto=mailto)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Bcc": "victim@x.test"}, "cannot be overridden"),
        ({"subject": "other"}, "cannot be overridden"),
        ({"Content-Type": "text/plain"}, "cannot be overridden"),
        ({"Resent-To": "victim@x.test"}, "cannot be overridden"),
        ({"X-Bad Name": "1"}, "invalid header name"),
        ({"X-Colon:": "1"}, "invalid header name"),
        ({"X-Tag": "a\r\nBcc: victim@x.test"}, "line break"),
    ],
)
def test_unsafe_extra_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compose(extra_headers=headers)


def test_make_message_id() -> None:
    assert make_message_id("send-42.abc", "penguin.test") == "<send-42.abc@penguin.test>"


@pytest.mark.parametrize(
    ("unique", "domain"),
    [("a b", "x.test"), ("a>", "x.test"), ("a", "x.test>\r\nBcc: y"), ("", "x.test"),
     ("a", ""), ("a@b", "x.test"), (".a", "x.test"), ("a", "x..test")],
)  # fmt: skip
def test_make_message_id_refuses_unsafe_parts(unique: str, domain: str) -> None:
    with pytest.raises(ValueError, match="not a dot-atom"):
        make_message_id(unique, domain)


# --- display names that must stay one phrase ------------------------------------------------------

SPLITTING_NAMES = [
    "Bob, attacker@evil.test, " + "x" * 80,  # folded by the email package into 3 recipients
    "Penguin, Inc., support@evil.test, " + "y" * 150,
    'Quote " and \\ backslash, "x@evil.test"',
    "<angle@evil.test>, Eve <eve@evil.test>",
    "Zoë, Ünïcode, Jr., ze@evil.test",
    "Bob, attacker@evil.test, " + "é" * 100,
    "a" * 70 + " " + "b," * 30,
    "n" * 200,
    "漢字, x@evil.test, " + "字" * 190,
    "=?utf-8?q?looks=2C_encoded?= x@evil.test",
    "(comment), x@evil.test",
    "  spaced  out  ",
]


@pytest.mark.parametrize("name", SPLITTING_NAMES)
def test_a_display_name_parses_back_as_one_address_with_the_same_name(name: str) -> None:
    raw = bytes(compose(from_name=name, to_name=name))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    received = email.message_from_bytes(raw, policy=email.policy.default)
    for header, addr_spec in (("From", "news@penguin.test"), ("To", "zoe@example.test")):
        [address] = received[header].addresses
        assert address.addr_spec == addr_spec
        assert address.display_name == name


def test_a_name_too_long_for_one_header_line_still_gives_one_address() -> None:
    name = "Bob, attacker@evil.test, " + "🐧" * 300  # 1200 bytes of UTF-8: several encoded words
    raw = bytes(compose(to_name=name))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    [address] = email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses
    assert address.addr_spec == "zoe@example.test"
    # Python's parser puts a space between adjacent encoded words; nothing else changes.
    assert address.display_name.replace(" ", "") == name.replace(" ", "")


def test_list_id_names_the_sequence_and_its_identifier() -> None:
    received = reparse(compose(list_name=("Welcome series", "3f2a.acme.test")))
    assert received["List-Id"] == '"Welcome series" <3f2a.acme.test>'


def test_a_list_name_with_quotes_or_accents_stays_one_phrase() -> None:
    quoted = reparse(compose(list_name=('The "Best" \\ list', "3f2a.acme.test")))
    assert quoted["List-Id"] == '"The \\"Best\\" \\\\ list" <3f2a.acme.test>'
    accented = reparse(compose(list_name=("Bienvenue à bord", "3f2a.acme.test")))
    assert accented["List-Id"] == "Bienvenue à bord <3f2a.acme.test>"
    assert "=?utf-8?b?" in bytes(compose(list_name=("Bienvenue à bord", "x.acme.test"))).decode()


def test_a_list_name_cannot_break_the_header() -> None:
    received = reparse(compose(list_name=("Evil\r\nBcc: x@evil.test", "3f2a.acme.test")))
    assert received["List-Id"] == '"Evil Bcc: x@evil.test" <3f2a.acme.test>'
    assert received["Bcc"] is None


@pytest.mark.parametrize("identifier", ["no-namespace", "a b.test", "x.test>\r\nBcc: y", ""])
def test_a_malformed_list_identifier_is_refused(identifier: str) -> None:
    with pytest.raises(ValueError, match="List-Id identifier"):
        compose(list_name=("Welcome", identifier))


def test_an_email_without_html_is_text_plain_alone() -> None:
    received = reparse(compose(rendered=RenderedEmail("Quick question", "", "Hi Zoë,\nBob")))
    assert received.get_content_type() == "text/plain"
    assert not received.is_multipart()
    assert received.get_content().splitlines() == ["Hi Zoë,", "Bob"]
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_all("MIME-Version") == ["1.0"]
