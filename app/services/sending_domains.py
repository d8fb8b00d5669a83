"""A workspace's sending domains: the DKIM key made for each (sealed at rest), the DNS
records to publish, the check that they are published, and the signing of outgoing mail.

Mail whose From domain is one of the workspace's domains is DKIM-signed (relaxed/relaxed,
rsa-sha256) over the headers a receiver judges it by, the one-click unsubscribe ones
included, so that a relay cannot strip or change them unnoticed. Any other mail goes out
unsigned, and the launch checklist says so.
"""

from __future__ import annotations

import base64
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import dkim
import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select, tuple_

from app.config import current_settings
from app.extensions import db
from app.mail.compose import fold_header
from app.models import SendingDomain, Workspace
from app.services.secret_box import SecretUnreadable, seal, unseal

log = logging.getLogger(__name__)

SELECTOR = "pm2026"
KEY_BITS = 2048
SIGNED_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
    "List-Id", "Reply-To", "In-Reply-To", "References", "MIME-Version", "Content-Type",
)  # fmt: skip
"""Signed when present (dkimpy signs only those a message has)."""

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_DNS_TIMEOUT_SECONDS = 5.0


class DomainError(ValueError):
    """A domain that cannot be added (malformed, already there); says why."""


def normalise_domain(text: str) -> str:
    """`Mail.Example.COM.` -> `mail.example.com`; IDNs in their ASCII (punycode) form."""
    name = text.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise DomainError(f"{text!r} is not a valid domain name") from None
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise DomainError(f"{text!r} is not a valid domain name, e.g. mail.example.com")
    return name


def domains_of(workspace_id: uuid.UUID) -> list[SendingDomain]:
    return list(
        db.session.scalars(
            select(SendingDomain)
            .where(SendingDomain.workspace_id == workspace_id)
            .order_by(SendingDomain.domain)
        )
    )


def find_domain(workspace_id: uuid.UUID, name: str) -> SendingDomain | None:
    return db.session.scalar(
        select(SendingDomain).where(
            SendingDomain.workspace_id == workspace_id, SendingDomain.domain == name
        )
    )


def add_domain(workspace: Workspace, text: str) -> SendingDomain:
    """The domain with a new 2048-bit RSA key; the private half is stored sealed."""
    name = normalise_domain(text)
    if find_domain(workspace.id, name) is not None:
        raise DomainError(f"{name} is already a sending domain of this workspace")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, what dkimpy reads
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    domain = SendingDomain(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        domain=name,
        selector=SELECTOR,
        sealed_private_key=seal(pem),
        public_key=base64.b64encode(public).decode("ascii"),
    )
    db.session.add(domain)
    db.session.commit()
    return domain


def delete_domain(domain: SendingDomain) -> None:
    db.session.delete(domain)
    db.session.commit()


# --- DNS records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DnsRecord:
    """One TXT record to publish: where, what, and why."""

    kind: str  # "dkim", "spf", "dmarc"
    name: str
    value: str
    note: str


def dkim_name(domain: SendingDomain) -> str:
    return f"{domain.selector}._domainkey.{domain.domain}"


def dkim_value(domain: SendingDomain) -> str:
    return f"v=DKIM1; k=rsa; p={domain.public_key}"


def dns_records(domain: SendingDomain) -> list[DnsRecord]:
    """The DKIM key (required to sign), an SPF suggestion and a DMARC starting policy."""
    return [
        DnsRecord("dkim", dkim_name(domain), dkim_value(domain), "Required: the signing key."),
        DnsRecord(
            "spf",
            domain.domain,
            f"v=spf1 include:{_spf_host()} ~all",
            "Suggested: add the include to your existing SPF record rather than adding a "
            "second one; use your SMTP provider's include.",
        ),
        DnsRecord(
            "dmarc",
            f"_dmarc.{domain.domain}",
            f"v=DMARC1; p=none; rua=mailto:dmarc@{domain.domain}",
            "Suggested start: p=none only reports; move to quarantine once reports are clean.",
        ),
    ]


def _spf_host() -> str:
    """The host of the SMTP relay mail leaves through, else of the app itself."""
    settings = current_settings()
    host = urlsplit(settings.smtp_url or "").hostname or urlsplit(settings.base_url).hostname
    return host or "localhost"


# --- checking -------------------------------------------------------------------------------


def make_resolver(address: str | None = None) -> dns.resolver.Resolver:
    """A resolver for `DNS_RESOLVER` ("host" or "host:port"), else the system's."""
    address = address if address is not None else current_settings().dns_resolver
    if not address:
        return dns.resolver.Resolver()
    resolver = dns.resolver.Resolver(configure=False)
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    resolver.nameservers = [host or address]
    resolver.port = int(port) if port else 53
    resolver.lifetime = _DNS_TIMEOUT_SECONDS
    return resolver


def txt_records(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at `name` (each record's chunks joined); [] when there are none."""
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def check_domain(
    domain: SendingDomain, now: datetime, resolver: dns.resolver.Resolver | None = None
) -> dict[str, Any]:
    """Look the records up; store what was found as `last_check`, and `verified_at` (the
    first time the DKIM key is published as made; cleared when it no longer is)."""
    resolver = resolver or make_resolver()
    results: dict[str, Any] = {"checked_at": now.isoformat()}
    for record in dns_records(domain):
        try:
            found = txt_records(resolver, record.name)
        except dns.exception.DNSException as exc:
            results[record.kind] = {"status": "error", "detail": f"lookup failed: {exc}"}
            continue
        results[record.kind] = _judge(record, found)
    domain.last_check = results
    if results["dkim"]["status"] == "ok":
        domain.verified_at = domain.verified_at or now
    else:
        domain.verified_at = None
    db.session.commit()
    return results


def _judge(record: DnsRecord, found: list[str]) -> dict[str, str]:
    if record.kind == "dkim":
        keys = [_tag(text, "p") for text in found]
        if record.value.split("p=")[1] in keys:
            return {"status": "ok", "detail": "the key is published"}
        if found:
            return {"status": "wrong", "detail": "a different key is published there"}
        return {"status": "missing", "detail": f"no TXT record at {record.name}"}
    prefix = "v=spf1" if record.kind == "spf" else "v=DMARC1"
    matching = [text for text in found if text.lower().startswith(prefix.lower())]
    if matching:
        return {"status": "ok", "detail": matching[0]}
    return {"status": "missing", "detail": f"no {prefix} record at {record.name}"}


def _tag(text: str, name: str) -> str | None:
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip() == name:
            return "".join(value.split())
    return None


# --- signing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    selector: bytes
    domain: bytes
    private_key: bytes


SigningKeys = dict[tuple[uuid.UUID, str], SigningKey]


def signing_keys(pairs: Iterable[tuple[uuid.UUID, str]]) -> SigningKeys:
    """The keys of every (workspace, From domain) pair of a batch, in one query."""
    wanted = {(workspace_id, name.lower()) for workspace_id, name in pairs if name}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            SendingDomain.workspace_id,
            SendingDomain.domain,
            SendingDomain.selector,
            SendingDomain.sealed_private_key,
        ).where(tuple_(SendingDomain.workspace_id, func.lower(SendingDomain.domain)).in_(wanted))
    )
    keys = {}
    for workspace_id, name, selector, sealed in rows:
        try:
            pem = unseal(sealed)
        except SecretUnreadable as exc:  # the key changed: send unsigned, not stop the batch
            log.warning("DKIM key of %s not used: %s", name, exc)
            continue
        keys[(workspace_id, name)] = SigningKey(
            selector.encode("ascii"), name.encode("ascii"), pem.encode("ascii")
        )
    return keys


def sign(message: EmailMessage, key: SigningKey) -> None:
    """Add the `DKIM-Signature` of the message as it will be sent (the headers of
    SIGNED_HEADERS it has, and the body). A key dkimpy cannot use leaves the message
    unsigned, as for an unconfigured domain, rather than failing the send."""
    present = [name for name in SIGNED_HEADERS if name in message]
    value = _signature(message.as_bytes(), present, key)
    if value is not None:
        message["DKIM-Signature"] = value


def sign_bytes(data: bytes, key: SigningKey) -> bytes:
    """`sign` for a message already flattened to bytes (CRLF lines): the same signature,
    its header put first."""
    head = data.partition(b"\r\n\r\n")[0].lower()
    names = {line.partition(b":")[0] for line in head.split(b"\r\n") if line[:1] not in b" \t"}
    present = [name for name in SIGNED_HEADERS if name.lower().encode("ascii") in names]
    value = _signature(data, present, key)
    if value is None:
        return data
    return fold_header("DKIM-Signature", value).encode("ascii") + data


def _signature(data: bytes, present: list[str], key: SigningKey) -> str | None:
    try:
        header = dkim.sign(
            data,
            key.selector,
            key.domain,
            key.private_key,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[name.lower().encode("ascii") for name in present],
        ).decode("ascii")
    except dkim.DKIMException as exc:
        log.warning("DKIM key of %s not used: %s", key.domain.decode(), exc)
        return None
    # One line of single spaces: relaxed canonicalisation reads it as dkimpy's folded one.
    return " ".join(header.partition(":")[2].split())
