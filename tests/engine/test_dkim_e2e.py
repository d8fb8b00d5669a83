"""DKIM end to end: a sending domain added with `flask domains add`, its record published on
a real DNS server (dnslib, 127.0.0.1), a sequence email sent by `tick` to a real SMTP
server, and the signature verified by dkimpy against that DNS server. Mail from a domain
the workspace has not configured goes out unsigned, and the launch checklist says so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import dkim
import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage, SendingDomain
from app.services import accounts, contacts, enrollment, sending_domains, sequences
from app.services.launch import launch_checklist
from app.services.secret_box import seal
from tests.dns_server import LocalDns, running_dns
from tests.helpers import tick
from tests.sql_statements import statements_sent

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


@pytest.fixture
def dns(app: Flask) -> Iterator[LocalDns]:
    for server in running_dns():
        app.config["DNS_RESOLVER"] = server.address
        yield server


def definition(from_email: str) -> dict:
    return {
        "name": f"Welcome from {from_email}",
        "settings": {"timezone": "UTC", "from_email": from_email, "from_name": "Acme"},
        "steps": [
            {
                "id": "hello",
                "type": "email",
                "config": {
                    "subject": "Welcome aboard",
                    "body": "<p>Hi {{ contact.first_name }}</p>",
                },
            }
        ],
        "connections": [],
    }


def add_with_cli(app: Flask, domain: str, workspace: str) -> str:
    result = app.test_cli_runner().invoke(args=["domains", "add", domain, "--workspace", workspace])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def send_one(app: Flask, workspace, from_email: str):
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition(from_email)))
    sequences.set_status(sequence, "activate", NOW)
    contact = contacts.upsert_contact(workspace, {"email": "ana@example.com", "first_name": "Ana"})[
        0
    ]
    assert enrollment.enroll_contacts(sequence, [contact], NOW).enrolled
    tick(app, NOW)
    return sequence


def verify_with(server: LocalDns):
    resolver = sending_domains.make_resolver(server.address)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        found = sending_domains.txt_records(resolver, name.decode().rstrip("."))
        return found[0].encode() if found else b""

    return dnsfunc


def signature_tags(raw: bytes) -> dict[str, str]:
    header = re.search(rb"^DKIM-Signature:(.*?)\r\n(?! )", raw, re.MULTILINE | re.DOTALL)
    assert header, "no DKIM-Signature"
    text = " ".join(header.group(1).decode().split())
    return {k.strip(): v.strip() for k, _, v in (t.partition("=") for t in text.split(";")) if k}


def test_mail_from_a_configured_domain_verifies_against_the_published_key(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    txt = add_with_cli(app, "Acme.test", "Acme")
    dns.zone.publish("pm2026._domainkey.acme.test", txt)

    sequence = send_one(app, workspace, "hello@acme.test")

    [raw] = smtp_sink.raw
    assert dkim.verify(raw, dnsfunc=verify_with(dns))
    tags = signature_tags(raw)
    assert (tags["d"], tags["s"], tags["a"], tags["c"]) == (
        "acme.test", "pm2026", "rsa-sha256", "relaxed/relaxed",
    )  # fmt: skip
    signed = [name.strip() for name in tags["h"].split(":")]
    for header in ("from", "to", "subject", "date", "message-id", "list-id"):
        assert header in signed
    assert "list-unsubscribe" in signed and "list-unsubscribe-post" in signed
    [message] = smtp_sink.messages
    assert str(sequence.id) in message["List-Id"]


def test_a_changed_header_no_longer_verifies(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    dns.zone.publish("pm2026._domainkey.acme.test", add_with_cli(app, "acme.test", "Acme"))
    send_one(app, workspace, "hello@acme.test")
    [raw] = smtp_sink.raw
    tampered = re.sub(
        rb"List-Unsubscribe: <[^>]*>", b"List-Unsubscribe: <https://evil.test/u>", raw
    )
    assert tampered != raw
    assert not dkim.verify(tampered, dnsfunc=verify_with(dns))


def test_mail_from_an_unconfigured_domain_is_unsigned_and_the_checklist_warns(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    dns.zone.publish("pm2026._domainkey.acme.test", add_with_cli(app, "acme.test", "Acme"))

    sequence = send_one(app, workspace, "hello@elsewhere.test")

    [raw] = smtp_sink.raw
    assert b"DKIM-Signature" not in raw
    [item] = [item for item in launch_checklist(sequence) if item.key == "sending_domain"]
    assert item.label == "Sending domain elsewhere.test not verified"
    assert not item.done and not item.blocking


def test_the_checklist_warns_until_the_domain_is_verified(app, dns):
    workspace = accounts.create_workspace("Acme")
    sequence = sequences.create_sequence(
        workspace, sequences.parse_input(definition("hello@acme.test"))
    )
    txt = add_with_cli(app, "acme.test", "Acme")
    assert "sending_domain" in {item.key for item in launch_checklist(sequence)}

    dns.zone.publish("pm2026._domainkey.acme.test", txt)
    domain = sending_domains.find_domain(workspace.id, "acme.test")
    sending_domains.check_domain(domain, NOW)

    assert "sending_domain" not in {item.key for item in launch_checklist(sequence)}


def test_domains_add_prints_the_records_with_the_dkim_value_last(app):
    accounts.create_workspace("Acme")
    result = app.test_cli_runner().invoke(
        args=["domains", "add", "mail.acme.test", "--workspace", "Acme"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    domain = db.session.scalars(select(SendingDomain)).one()
    assert lines[-1] == f"v=DKIM1; k=rsa; p={domain.public_key}"
    assert "pm2026._domainkey.mail.acme.test" in result.output
    assert "_dmarc.mail.acme.test" in result.output and "v=DMARC1; p=none" in result.output
    assert "v=spf1 include:" in result.output
    assert "BEGIN" not in domain.sealed_private_key  # stored sealed, never as plain PEM


def test_domains_add_refuses_a_malformed_or_repeated_domain(app):
    accounts.create_workspace("Acme")
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["domains", "add", "not a domain", "--workspace", "Acme"])
    assert bad.exit_code != 0 and "not a valid domain name" in bad.output
    assert runner.invoke(args=["domains", "add", "acme.test", "--workspace", "Acme"]).exit_code == 0
    again = runner.invoke(args=["domains", "add", "ACME.test.", "--workspace", "Acme"])
    assert again.exit_code != 0 and "already a sending domain" in again.output


def test_check_domain_finds_missing_wrong_and_published_records(app, dns):
    workspace = accounts.create_workspace("Acme")
    domain = sending_domains.add_domain(workspace, "acme.test")
    name = "pm2026._domainkey.acme.test"

    missing = sending_domains.check_domain(domain, NOW)
    assert missing["dkim"]["status"] == "missing" and domain.verified_at is None

    other = sending_domains.add_domain(accounts.create_workspace("Other"), "acme.test")
    dns.zone.publish(name, sending_domains.dkim_value(other))
    wrong = sending_domains.check_domain(domain, NOW)
    assert wrong["dkim"]["status"] == "wrong" and domain.verified_at is None

    dns.zone.withdraw(name)
    dns.zone.publish(name, sending_domains.dkim_value(domain))
    dns.zone.publish("acme.test", "v=spf1 include:relay.test ~all")
    found = sending_domains.check_domain(domain, NOW)
    assert (found["dkim"]["status"], found["spf"]["status"], found["dmarc"]["status"]) == (
        "ok", "ok", "missing",
    )  # fmt: skip
    db.session.expire_all()
    assert domain.verified_at == NOW and domain.last_check["dkim"]["status"] == "ok"


def test_domains_check_reports_each_record_and_fails_without_dkim(app, dns):
    workspace = accounts.create_workspace("Acme")
    domain = sending_domains.add_domain(workspace, "acme.test")
    runner = app.test_cli_runner()
    absent = runner.invoke(args=["domains", "check", "acme.test", "--workspace", "Acme"])
    assert absent.exit_code == 1 and "DKIM: missing" in absent.output
    dns.zone.publish("pm2026._domainkey.acme.test", sending_domains.dkim_value(domain))
    present = runner.invoke(args=["domains", "check", "acme.test", "--workspace", "Acme"])
    assert present.exit_code == 0 and "DKIM: ok" in present.output


def test_a_batch_loads_its_signing_keys_in_one_query(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    dns.zone.publish("pm2026._domainkey.acme.test", add_with_cli(app, "acme.test", "Acme"))
    sequence = sequences.create_sequence(
        workspace, sequences.parse_input(definition("hello@acme.test"))
    )
    sequences.set_status(sequence, "activate", NOW)
    people = [{"email": f"p{n}@example.com", "first_name": f"P{n}"} for n in range(5)]
    found = [contacts.upsert_contact(workspace, person)[0] for person in people]
    assert len(enrollment.enroll_contacts(sequence, found, NOW).enrolled) == 5
    with statements_sent() as statements:
        tick(app, NOW)

    assert len(smtp_sink.raw) == 5
    assert all(dkim.verify(raw, dnsfunc=verify_with(dns)) for raw in smtp_sink.raw)
    assert len([s for s in statements if "sending_domains.sealed_private_key" in s]) == 1


def test_a_key_sealed_under_another_secret_sends_unsigned_instead_of_failing(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    add_with_cli(app, "acme.test", "Acme")
    app.config["SECRET_KEY"] = "a-rotated-secret"  # the sealed key can no longer be opened

    send_one(app, workspace, "hello@acme.test")

    [raw] = smtp_sink.raw
    assert b"DKIM-Signature" not in raw
    assert db.session.scalar(select(OutboundMessage.status)) == "sent"


def test_a_stored_key_dkimpy_cannot_read_sends_unsigned_instead_of_failing(app, dns, smtp_sink):
    workspace = accounts.create_workspace("Acme")
    add_with_cli(app, "acme.test", "Acme")
    domain = sending_domains.find_domain(workspace.id, "acme.test")
    domain.sealed_private_key = seal("not a PEM key")
    db.session.commit()

    send_one(app, workspace, "hello@acme.test")

    [raw] = smtp_sink.raw
    assert b"DKIM-Signature" not in raw
    assert db.session.scalar(select(OutboundMessage.status)) == "sent"
