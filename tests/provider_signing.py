"""Real signatures for the provider webhook tests: an Amazon SNS signer with its own RSA key
and self-signed certificate served over https by a local server, SendGrid's ECDSA keys,
Mailgun's HMAC and Postmark's Basic auth. Nothing in the verification is mocked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from app.services.provider_hooks.sns import SIGNED_FIELDS

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"


def self_signed(key: Any, name: str, ip: str | None = None) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
    )
    if ip is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        ).add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    return builder.sign(key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class CertServer:
    """An https server on 127.0.0.1 serving SNS signing certificates and answering
    subscription confirmations (recorded in `confirmed`)."""

    port: int
    files: dict[str, bytes] = field(default_factory=dict)
    confirmed: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"


@contextmanager
def cert_server(tmp_path: Path) -> Iterator[tuple[CertServer, Path]]:
    """The server, and the CA file a client must trust to reach it (its TLS certificate)."""
    tls_key = ec.generate_private_key(ec.SECP256R1())
    tls_cert = self_signed(tls_key, "127.0.0.1", ip="127.0.0.1")
    cert_file, key_file = tmp_path / "tls.pem", tmp_path / "tls.key"
    cert_file.write_bytes(pem(tls_cert))
    key_file.write_bytes(
        tls_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    state = CertServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, _ = self.path.partition("?")
            if path == "/confirm":
                state.confirmed.append(self.path)
                self._answer(200, b"<ConfirmSubscriptionResponse/>")
            elif path in state.files:
                state.fetched.append(path)
                self._answer(200, state.files[path])
            else:
                self._answer(404, b"not found")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, cert_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class SnsSigner:
    """Signs SNS messages like Amazon SNS, with a key whose certificate the server serves."""

    def __init__(self, server: CertServer) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert_path = f"/SimpleNotificationService-{uuid.uuid4().hex}.pem"
        server.files[self.cert_path] = pem(self_signed(self.key, "sns.amazonaws.com"))
        self.cert_url = server.url(self.cert_path)
        self.server = server

    def envelope(self, kind: str, version: str = "2", **fields: str) -> dict[str, Any]:
        envelope = {
            "Type": kind,
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "SignatureVersion": version,
            "SigningCertURL": self.cert_url,
            **fields,
        }
        return self.sign(envelope)

    def sign(self, envelope: dict[str, Any]) -> dict[str, Any]:
        names = SIGNED_FIELDS[envelope["Type"]]
        canonical = "".join(
            f"{name}\n{envelope[name]}\n" for name in names if envelope.get(name) is not None
        ).encode()
        algorithm = hashes.SHA1() if envelope["SignatureVersion"] == "1" else hashes.SHA256()
        signature = self.key.sign(canonical, padding.PKCS1v15(), algorithm)
        return {**envelope, "Signature": base64.b64encode(signature).decode()}

    def notification(self, ses_message: dict[str, Any], version: str = "2") -> dict[str, Any]:
        return self.envelope(
            "Notification", version, Message=json.dumps(ses_message), Subject="Bounce"
        )

    def subscription(self) -> dict[str, Any]:
        return self.envelope(
            "SubscriptionConfirmation",
            Message="You have chosen to subscribe to the topic.",
            SubscribeURL=self.server.url(f"/confirm?Action=ConfirmSubscription&Topic={TOPIC}"),
            Token="2336412f37fb687f5d51e6e2425c464de12884",
        )


def ses_bounce(message_id: str, email: str, bounce_type: str = "Permanent") -> dict[str, Any]:
    """An SES bounce notification as SES publishes it (original headers included)."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "feedbackId": f"0100-{uuid.uuid4().hex}-000000",
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": email,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-12-06T04:00:00.000Z",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": _ses_mail(message_id, email),
    }


def ses_complaint(message_id: str, email: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": f"0100-{uuid.uuid4().hex}-000000",
            "complainedRecipients": [{"emailAddress": email}],
            "complaintFeedbackType": "abuse",
            "timestamp": "2026-12-06T04:00:00.000Z",
        },
        "mail": _ses_mail(message_id, email),
    }


def _ses_mail(message_id: str, email: str) -> dict[str, Any]:
    return {
        "timestamp": "2026-12-06T03:59:58.000Z",
        "messageId": "0100017c-ses-own-id-000000",
        "source": "team@penguinmails.example",
        "destination": [email],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "team@penguinmails.example"},
            {"name": "To", "value": email},
            {"name": "Message-ID", "value": message_id},
        ],
        "commonHeaders": {"from": ["team@penguinmails.example"], "to": [email]},
    }


class SendGridKey:
    """A SendGrid-style ECDSA P-256 key pair; the public half as SendGrid shows it."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        signed_at = timestamp or str(int(time.time()))
        signature = self.private.sign(signed_at.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": signed_at,
            "Content-Type": "application/json",
        }


def sendgrid_event(message_id: str, email: str, event: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(time.time()) - 30,
        "smtp-id": message_id,
        "event": event,
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def mailgun_body(
    signing_key: str,
    message_id: str,
    email: str,
    event: str,
    severity: str | None = None,
    signed_at: int | None = None,
) -> dict[str, Any]:
    """A Mailgun webhook body (Message-ID without brackets, as Mailgun sends it), signed."""
    timestamp = str(signed_at if signed_at is not None else int(time.time()))
    token = uuid.uuid4().hex + uuid.uuid4().hex[:18]
    signature = hmac.new(
        signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    data: dict[str, Any] = {
        "id": uuid.uuid4().hex[:22],
        "event": event,
        "timestamp": time.time() - 30,
        "recipient": email,
        "message": {"headers": {"message-id": message_id.strip("<>"), "to": email}},
    }
    if severity is not None:
        data |= {
            "severity": severity,
            "reason": "bounce" if severity == "permanent" else "generic",
            "delivery-status": {"code": 550, "description": "No such user here"},
        }
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": data,
    }


def basic_auth(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}", "Content-Type": "application/json"}


def postmark_bounce(
    message_id: str, email: str, bounce_type: str = "HardBounce", record_type: str = "Bounce"
) -> dict[str, Any]:
    """A Postmark Bounce (or SpamComplaint) webhook body with the bounce content included:
    the returned original carries our Message-ID (Postmark's MessageID is its own)."""
    return {
        "RecordType": record_type,
        "MessageStream": "outbound",
        "ID": int(uuid.uuid4().int % 10**15),
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": str(uuid.uuid4()),
        "ServerID": 23,
        "Description": "The server was unable to deliver your message.",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "team@penguinmails.example",
        "BouncedAt": "2026-12-06T04:00:00.1234567Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Welcome to PenguinMails!",
        "Content": _returned_original(message_id, email),
    }


def _returned_original(message_id: str, email: str) -> str:
    return (
        "From: MAILER-DAEMON@mx.example\r\n"
        f"To: pm_bounces@pm-bounces.penguinmails.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{uuid.uuid4().hex}@mx.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\n"
        f"Final-Recipient: rfc822; {email}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nTo: {email}\r\nSubject: Welcome to PenguinMails!\r\n"
        "\r\n--B--\r\n"
    )
