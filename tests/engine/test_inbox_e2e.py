"""A connected inbox end to end, with real servers: Cold Outreach from the gallery sends its
first email over SMTP (aiosmtpd), a reply, an out-of-office and a bounce arrive in a real
IMAP mailbox (dovecot), and one `flask inbox poll` hands them to the inbound code: the
replier exits, the out-of-office contact goes on, the bounced address is suppressed.
Polling again handles nothing twice, and the mail stays in the mailbox, unseen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactEvent, ContactSequence, Suppression, Workspace
from app.models.inbox import InboxReceipt
from app.services import mailboxes
from tests.dovecot import USER, Dovecot
from tests.engine.test_gallery_e2e import start, step_of, utc
from tests.helpers import tick

pytestmark = pytest.mark.local_time

MONDAY_10 = utc(2026, 12, 7, 10, 0)  # Cold Outreach sends on weekdays 09:00-17:00
PEOPLE = [
    {"email": "ada@initech.example", "first_name": "Ada", "fields": {"company": "Initech"}},
    {"email": "grace@globex.example", "first_name": "Grace", "fields": {"company": "Globex"}},
    {"email": "kenji@nowhere.example", "first_name": "Kenji"},
]


def reply(original: EmailMessage, sender: str, subject: str, **headers: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = USER
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{sender.split('@')[0]}-answer@mail.example>"
    mail["In-Reply-To"] = original["Message-ID"]
    mail["References"] = original["Message-ID"]
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content("Thanks for writing.\n\n> " + str(original["Subject"]))
    return bytes(mail)


def dsn(original: EmailMessage) -> bytes:
    """A mail server's delivery status notification (RFC 3464): 5.1.1, no such user."""
    recipient = original["To"].addresses[0].addr_spec
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.nowhere.example>\r\n"
        f"To: {USER}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.nowhere.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.nowhere.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 No such user\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original['Message-ID']}\r\nTo: {recipient}\r\n"
        f"Subject: {original['Subject']}\r\n"
        "--B--\r\n"
    ).encode()


def newsletter() -> bytes:
    mail = EmailMessage()
    mail["From"] = "news@elsewhere.example"
    mail["To"] = USER
    mail["Subject"] = "This week's news"
    mail["Message-ID"] = "<news-1@elsewhere.example>"
    mail.set_content("Nothing to do with our emails.")
    return bytes(mail)


def poll(app: Flask, now: datetime) -> str:
    result = app.test_cli_runner().invoke(args=["inbox", "poll", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def enrollment(email: str) -> ContactSequence:
    db.session.expire_all()
    return db.session.scalars(
        select(ContactSequence).join(Contact).where(Contact.email == email)
    ).one()


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(InboxReceipt.id))),
        db.session.scalar(select(func.count(ContactEvent.id))),
    )


def test_replies_auto_replies_and_bounces_come_back_through_the_connected_inbox(
    app, smtp_sink, dovecot: Dovecot
):
    sequence = start("cold_outreach", PEOPLE, MONDAY_10)
    workspace = db.session.get_one(Workspace, sequence.workspace_id)
    mailboxes.save_mailbox(workspace, "Sales inbox", dovecot.settings(), datetime.now(UTC))
    tick(app, MONDAY_10)
    first = {step_of(m)[0]: m for m in smtp_sink.wait_for(3)}
    assert {step_of(m)[1] for m in first.values()} == {"Value Prop"}

    ada, grace, kenji = (person["email"] for person in PEOPLE)
    dovecot.append(reply(first[ada], ada, "Re: Quick idea for Initech"))
    dovecot.append(
        reply(first[grace], grace, "Out of Office: back on Monday", Auto_Submitted="auto-replied")
    )
    dovecot.append(dsn(first[kenji]))
    dovecot.append(newsletter())

    output = poll(app, MONDAY_10 + timedelta(hours=1))
    assert "Sales inbox: 4 new, 1 reply, 1 auto-reply, 1 bounce, 0 complaint, 1 skipped" in output

    assert (enrollment(ada).status, enrollment(ada).exit_reason) == ("exited", "replied")
    assert enrollment(grace).status == "active"
    bounced = enrollment(kenji)
    assert (bounced.status, bounced.exit_reason) == (
        "failed",
        f"bounced (status 5.1.1 for {kenji})",
    )
    suppressed = db.session.execute(select(Suppression.email, Suppression.reason)).all()
    assert [tuple(row) for row in suppressed] == [(kenji, "bounced")]

    before = counts()
    assert before[0] == 4
    for day in (3, 10, 20):  # Thursday 10:00 is Follow-up 1's moment; later ones follow
        tick(app, MONDAY_10 + timedelta(days=day))
    later = [step_of(m) for m in smtp_sink.messages[3:]]
    assert (grace, "Follow-up 1") in later
    assert {to for to, _ in later} == {grace}, "only the out-of-office contact goes on"

    again = poll(app, MONDAY_10 + timedelta(days=20, minutes=1))
    assert "Sales inbox: 0 new" in again
    after = counts()
    assert after[0] == before[0]
    events = db.session.scalars(
        select(ContactEvent.type).where(ContactEvent.source == "inbound")
    ).all()
    assert sorted(events) == ["auto_reply", "bounced", "replied"]

    with dovecot.client() as box:
        assert len(box.uids("ALL")) == 4
        assert len(box.uids("UNSEEN")) == 4, "polling must not mark mail as read"
