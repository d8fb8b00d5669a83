"""Which URLs outside calls (webhooks, ...) may target: checked when a step is saved and
again, on every resolved address, when the call is made.

Only http and https, a host, no credentials in the URL, a bounded length; and no private,
loopback, link-local, multicast, reserved or otherwise non-public address unless the
operator allows them (WEBHOOK_ALLOW_PRIVATE). The app sets that policy for each request
(`allow_private_targets`), so a save refuses an address written out in the URL; code that
only re-reads stored steps (the engine) sets none and leaves the addresses to the call,
which checks every address it connects to, told the policy explicitly.
"""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar, Token
from urllib.parse import urlsplit

MAX_URL = 2048
SCHEMES = ("http", "https")
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_private_allowed: ContextVar[bool | None] = ContextVar("private_targets_allowed", default=None)


def allow_private_targets(allowed: bool) -> Token[bool | None]:
    """From here on (in this context), URLs are checked for addresses that are not public,
    unless `allowed` (WEBHOOK_ALLOW_PRIVATE); give the token to `restore_target_policy`."""
    return _private_allowed.set(allowed)


def restore_target_policy(token: Token[bool | None]) -> None:
    _private_allowed.reset(token)


def refused_address(address: IpAddress) -> str | None:
    """Why this address may not be called, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for reason, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return f"{address} is a {reason} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def literal_address(host: str) -> IpAddress | None:
    """The host as an IP address when it is written as one (10.0.0.1, ::1)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_problem(url: str) -> str | None:
    """What makes `url` unfit as a call target, in words for its author; None when fit.
    A host name is resolved only when called; an address written out is checked now,
    where a policy is set (see `allow_private_targets`)."""
    if len(url) > MAX_URL:
        return f"the URL is {len(url):,} characters long; the limit is {MAX_URL:,}"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"{url[:100]!r} is not a valid URL: {exc}"
    if parts.scheme.lower() not in SCHEMES:
        return f"{url[:100]!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{url[:100]!r} has no host"
    if parts.username is not None or parts.password is not None:
        return "the URL must not contain a user name or password; sign requests instead"
    if port == 0:
        return "the URL's port must be 1 to 65535"
    address = literal_address(parts.hostname)
    if address is not None and _private_allowed.get() is False:
        reason = refused_address(address)
        if reason is not None:
            return f"{reason}; only public addresses may be called"
    return None
