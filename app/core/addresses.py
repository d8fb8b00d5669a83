"""One strict rule for email addresses, used wherever one is stored or sent to.

An address is exactly one mailbox `local@domain`: no display name, no list, no quoted
local part, no IP literal (which bypasses DNS, MX and so any sending policy), no markup,
no control characters. Checked with `email-validator` without any DNS lookup; `.test`
domains are accepted for test setups. The result is the library's normalised form (the
domain in lower case, Unicode in NFC).
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

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
    try:
        checked = validate_email(
            text,
            check_deliverability=False,
            allow_display_name=False,
            allow_domain_literal=False,
            allow_quoted_local=False,
            allow_empty_local=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise AddressError(f"{_shown(text)} is not an email address: {reason}") from None
    return checked.normalized


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
