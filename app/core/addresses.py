"""One strict rule for email addresses, used wherever one is stored or sent to.

An address is exactly one mailbox `local@domain`: no display name, no list, no quoted
local part, no IP literal (which bypasses DNS, MX and so any sending policy), no markup,
no control characters. Checked with `email-validator` without any DNS lookup; `.test`
domains are accepted for test setups. The result is the library's normalised form (the
domain in lower case, Unicode in NFC); a plain ASCII address gets that same answer from a
shortcut that skips the library's per-character Unicode checks.
"""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from app.core import limits
from app.core.text_rules import single_line_problem


class AddressError(ValueError):
    """Not one plain mailbox; the message says what is wrong in words an author can act on."""


def normalise_address(value: object) -> str:
    """The normalised address, or AddressError. Only text is an address: a list or an
    object is refused, never turned into its repr."""
    if not isinstance(value, str):
        raise AddressError(f"an email address must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise AddressError("an email address is required")
    if len(text) > limits.EMAIL:
        raise AddressError(f"an email address has at most {limits.EMAIL} characters")
    problem = single_line_problem(text)
    if problem is not None:
        raise AddressError(f"an email address {problem}")
    plain = _plain_address(text)
    if plain is not None:
        return plain
    try:
        return library_normalised(text)
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise AddressError(f"{_shown(text)} is not an email address: {reason}") from None


def library_normalised(text: str) -> str:
    """`email-validator`'s normalised form of one strict mailbox, or EmailNotValidError."""
    return validate_email(
        text,
        check_deliverability=False,
        allow_display_name=False,
        allow_domain_literal=False,
        allow_quoted_local=False,
        allow_empty_local=False,
        test_environment=True,
    ).normalized


# The common case, checked without the library: ASCII letters, digits and `._+-` before the
# @, and lower-case-able ASCII labels with a letters-only top-level domain after it.
_PLAIN = re.compile(
    r"(?P<local>[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_LOCAL_MAX = 64  # the library's limit before the @ (checked by it only when strict)
_SPECIAL_USE = tuple(name for name in SPECIAL_USE_DOMAIN_NAMES if name != "test")


def _plain_address(text: str) -> str | None:
    """What `validate_email` would answer for a plain ASCII address, without its per-character
    Unicode checks (most of the time an event or an import row takes); None when the address
    needs the library. Anything the library would refuse or change otherwise (a `--` label,
    Punycode, a reserved domain, `Postmaster` lower-cased, lengths) is left to it: a test
    compares both on generated addresses."""
    match = _PLAIN.fullmatch(text) if len(text) <= limits.EMAIL else None
    if match is None:
        return None
    local, domain = match["local"], match["domain"].lower()
    if len(local) > _LOCAL_MAX or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    if "--" in domain or len(domain) > 253:
        return None
    if any(domain == name or domain.endswith("." + name) for name in _SPECIAL_USE):
        return None
    return f"{local}@{domain}"


def address_list(text: str, most: int) -> list[str]:
    """The addresses of a comma-separated list (as typed in a "send to" field), normalised
    and without repeats; AddressError naming the first bad one, or when there are none or
    more than `most`."""
    found: dict[str, str] = {}
    for part in text.split(","):
        if part.strip():
            address = normalise_address(part)
            found.setdefault(email_key(address), address)
    if not found:
        raise AddressError("enter at least one email address")
    if len(found) > most:
        raise AddressError(f"at most {most} addresses, separated by commas ({len(found)} given)")
    return list(found.values())


def email_key(address: str) -> str:
    """The key two spellings of one mailbox share: the whole normalised address lower-cased.

    RFC 5321 lets a server treat the local part case-sensitively, but no mailbox provider
    in use does, and people type `MARIA.LOPEZ@` and `maria.lopez@` for the same person, so
    lower-casing only the domain would still make them two contacts. Contacts are unique
    by this key and found by it; the address keeps the spelling it was first given for
    display and sending. The suppression list compares addresses by the same key."""
    return address.strip().lower()


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
