"""Amazon SNS message signatures, checked as AWS documents them: the signing certificate
is fetched (over https, only from an allowed host: `SNS_CERT_HOSTS`, by default
`sns.<region>.amazonaws.com`) and cached, and its RSA key must verify `Signature` over the
canonical text of the message type's fields (SignatureVersion 1: SHA1withRSA; 2:
SHA256withRSA). A subscription is confirmed by fetching its SubscribeURL, allowed on the
same hosts only.

Fetches are plain https GETs with certificate checks, no redirects, a deadline and a
size cap; the host rule (AWS's own names) is what keeps them from going anywhere else.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import re
import threading
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.config import current_settings
from app.services.provider_hooks.base import HookRefused
from app.tls import client_context

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
    ),
}  # fmt: skip
"""The fields each message type signs, in the order of the canonical text; a
Notification's Subject only when it has one."""
ALGORITHMS = {"1": hashes.SHA1, "2": hashes.SHA256}
FETCH_SECONDS = 5.0
MAX_CERTIFICATE_BYTES = 16_384
MAX_ANSWER_BYTES = 16_384
CACHED_CERTIFICATES = 32
_LABEL = re.compile(r"[a-z0-9-]{1,63}")

_cache: dict[str, x509.Certificate] = {}
_cache_lock = threading.Lock()


def verify(envelope: dict[str, Any], now: datetime) -> None:
    """HookRefused(401) unless SNS signed this message; 503 when the certificate cannot be
    fetched now (SNS retries)."""
    kind = envelope.get("Type")
    names = SIGNED_FIELDS.get(kind) if isinstance(kind, str) else None
    if names is None:
        raise HookRefused(400, "Type: not an SNS message type")
    algorithm = ALGORITHMS.get(str(envelope.get("SignatureVersion")))
    if algorithm is None:
        raise HookRefused(401, "SignatureVersion: expected 1 or 2")
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise HookRefused(401, "Signature: not base64") from None
    key = _certificate_key(envelope.get("SigningCertURL"), now)
    try:
        key.verify(signature, canonical(envelope, names), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise HookRefused(401, "Signature: the SNS signature is wrong") from None


def canonical(envelope: dict[str, Any], names: tuple[str, ...]) -> bytes:
    """`name\\nvalue\\n` for each signed field, in order (absent Subject left out)."""
    parts = []
    for name in names:
        value = envelope.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise HookRefused(401, f"{name}: missing from the SNS message")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def confirm_subscription(url: Any) -> None:
    """Fetch the SubscribeURL of a (verified) SubscriptionConfirmation."""
    _check_url(url, "SubscribeURL")
    status, _ = _get(url, MAX_ANSWER_BYTES)
    if status != 200:
        raise HookRefused(502, f"SubscribeURL answered {status}; the subscription is not confirmed")


def allowed_host(host: str, patterns: str) -> bool:
    """Whether the host matches one of the patterns (`*` is exactly one DNS label)."""
    labels = host.lower().split(".")
    for pattern in re.split(r"[\s,]+", patterns.strip().lower()):
        wanted = pattern.split(".")
        if (
            pattern
            and len(wanted) == len(labels)
            and all(
                want == label or (want == "*" and _LABEL.fullmatch(label))
                for want, label in zip(wanted, labels, strict=True)
            )
        ):
            return True
    return False


def _check_url(url: Any, field: str) -> str:
    if not isinstance(url, str):
        raise HookRefused(401, f"{field}: missing")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise HookRefused(401, f"{field}: must be an https URL")
    if not allowed_host(parts.hostname, current_settings().sns_cert_hosts):
        raise HookRefused(401, f"{field}: {parts.hostname} is not an Amazon SNS host")
    return url


def _certificate_key(url: Any, now: datetime) -> rsa.RSAPublicKey:
    certificate = _certificate(_check_url(url, "SigningCertURL"))
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise HookRefused(401, "SigningCertURL: the certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise HookRefused(401, "SigningCertURL: not an RSA certificate")
    return key


def _certificate(url: str) -> x509.Certificate:
    """The certificate at this (checked) URL, fetched once per process and kept."""
    with _cache_lock:
        cached = _cache.get(url)
    if cached is not None:
        return cached
    status, body = _get(url, MAX_CERTIFICATE_BYTES)
    if status != 200:
        raise HookRefused(503, f"SigningCertURL answered {status}")
    try:
        certificate = x509.load_pem_x509_certificate(body)
    except ValueError:
        raise HookRefused(401, "SigningCertURL: not a PEM certificate") from None
    with _cache_lock:
        if len(_cache) >= CACHED_CERTIFICATES:
            _cache.pop(next(iter(_cache)))
        _cache[url] = certificate
    return certificate


def _get(url: str, limit: int) -> tuple[int, bytes]:
    """One https GET: the status and at most `limit` bytes; 503 when it cannot be made."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPSConnection(
        str(parts.hostname),
        parts.port or 443,
        timeout=FETCH_SECONDS,
        context=client_context(),
    )
    try:
        connection.request("GET", target, headers={"User-Agent": "PenguinMails-Sequences"})
        response = connection.getresponse()
        body = response.read(limit + 1)
    except (OSError, http.client.HTTPException) as exc:
        raise HookRefused(503, f"could not reach {parts.hostname}: {exc}") from None
    finally:
        connection.close()
    if len(body) > limit:
        raise HookRefused(502, f"{parts.hostname} answered more than {limit} bytes")
    return response.status, body
