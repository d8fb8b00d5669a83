"""Connected inboxes against a real IMAP server (dovecot): what "Test connection" says, where a
poll starts, UIDVALIDITY changes, moving only when asked, per-poll limits, failing mailboxes
and concurrent pollers. No mocked IMAP."""

from __future__ import annotations

import imaplib
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactEvent, Workspace
from app.models.inbox import InboxReceipt, Mailbox
from app.services import imap, inbox, mailboxes
from app.services.secret_box import unseal
from tests.api.test_inbound import reply_to, sent_messages
from tests.conftest import api_for, free_port
from tests.dovecot import PASSWORD, USER, Dovecot
from tests.smtp_sink import running_sink


def connect(api, dovecot: Dovecot, name: str = "Sales inbox", **changes) -> Mailbox:
    workspace = db.session.get_one(Workspace, api.workspace_id)
    now = datetime.now(UTC)
    return mailboxes.save_mailbox(workspace, name, dovecot.settings(**changes), now)


def receipts() -> int:
    return db.session.scalar(select(func.count(InboxReceipt.id)))


def inbound_events() -> list[str]:
    return sorted(
        db.session.scalars(select(ContactEvent.type).where(ContactEvent.source == "inbound"))
    )


def uids(dovecot: Dovecot, folder: str = "INBOX", criteria: str = "ALL") -> list[str]:
    with dovecot.client(folder) as box:
        return box.uids(criteria)


def test_test_connection_says_what_failed(dovecot):
    assert imap.test_connection(dovecot.settings()) is None

    wrong = imap.test_connection(dovecot.settings(password="not-it"))
    assert wrong is not None and "refused the user name or password" in wrong and USER in wrong

    closed = imap.test_connection(dovecot.settings(port=free_port()))
    assert closed is not None and "refused the connection" in closed
    assert "check the port and the security setting" in closed

    tls = imap.test_connection(dovecot.settings(security="ssl"))
    assert tls is not None and "TLS failed" in tls

    starttls = imap.test_connection(dovecot.settings(security="starttls"))
    assert starttls == f"127.0.0.1:{dovecot.port} does not offer STARTTLS: choose SSL/TLS or None"

    folder = imap.test_connection(dovecot.settings(folder="Nope"))
    assert folder == "there is no folder named 'Nope' in this mailbox"

    move_to = imap.test_connection(dovecot.settings(move_to="Handled"))
    assert move_to == "there is no folder named 'Handled' to move handled messages to"


def test_an_unknown_host_name_is_named(dovecot):
    problem = imap.test_connection(dovecot.settings(host="no-such-host.invalid"))
    assert problem == "cannot find the server 'no-such-host.invalid': check the host name"


def test_the_password_is_stored_sealed_never_in_clear(app, api, dovecot):
    mailbox = connect(api, dovecot)
    column = Mailbox.__table__.c.sealed_password
    stored = db.session.execute(select(column).where(Mailbox.id == mailbox.id)).scalar()
    assert PASSWORD not in stored and PASSWORD.encode().hex() not in stored
    assert unseal(stored) == PASSWORD


def test_a_poll_reads_each_message_once_and_leaves_it_unseen_where_it_was(
    app, api, smtp_sink, dovecot
):
    ada, grace, _ = sent_messages(app, api, smtp_sink)
    mailbox = connect(api, dovecot)
    dovecot.append(reply_to(ada))
    now = datetime.now(UTC)

    first = inbox.poll_mailbox(mailbox, now)
    dovecot.append(reply_to(grace))
    second = inbox.poll_mailbox(mailbox, now)
    third = inbox.poll_mailbox(mailbox, now)

    assert (first.new, first.count("replied")) == (1, 1)
    assert (second.new, second.count("replied")) == (1, 1)
    assert third.new == 0
    assert inbound_events() == ["replied", "replied"] and receipts() == 2
    assert len(uids(dovecot)) == 2 and len(uids(dovecot, criteria="UNSEEN")) == 2
    db.session.expire_all()
    assert mailbox.last_error is None and mailbox.last_polled_at is not None


def test_the_first_poll_skips_mail_older_than_the_day_before_connecting(
    app, api, smtp_sink, dovecot
):
    ada, grace, _ = sent_messages(app, api, smtp_sink)
    with dovecot.client(None) as box:
        long_ago = imaplib.Time2Internaldate(datetime.now(UTC) - timedelta(days=30))
        assert box.client.append("INBOX", None, long_ago, reply_to(ada))[0] == "OK"
    dovecot.append(reply_to(grace))
    mailbox = connect(api, dovecot)

    report = inbox.poll_mailbox(mailbox, datetime.now(UTC))

    assert (report.new, report.count("replied")) == (1, 1)
    assert [e.contact_id for e in db.session.scalars(select(ContactEvent))] == [grace.contact_id]


def test_a_changed_uidvalidity_reads_the_rebuilt_folder_without_handling_anything_twice(
    app, api, smtp_sink, dovecot
):
    ada, grace, _ = sent_messages(app, api, smtp_sink)
    with dovecot.client() as box:
        box.folder.create("Replies")
    mailbox = connect(api, dovecot, folder="Replies")
    dovecot.append(reply_to(ada), folder="Replies")
    now = datetime.now(UTC)
    assert inbox.poll_mailbox(mailbox, now).count("replied") == 1
    db.session.expire_all()
    old_validity = mailbox.uidvalidity

    with dovecot.client() as box:  # the folder is rebuilt: same name, UIDs start again
        box.folder.delete("Replies")
        box.folder.create("Replies")
    dovecot.append(reply_to(ada), folder="Replies")
    dovecot.append(reply_to(grace), folder="Replies")
    report = inbox.poll_mailbox(mailbox, now + timedelta(minutes=1))

    db.session.expire_all()
    assert mailbox.uidvalidity != old_validity and mailbox.last_uid == 2
    assert report.outcomes == {"already_handled": 1, "replied": 1}
    assert inbound_events() == ["replied", "replied"]
    assert inbox.poll_mailbox(mailbox, now + timedelta(minutes=2)).new == 0


def test_handled_messages_move_only_when_a_folder_is_named(app, api, smtp_sink, dovecot):
    ada, grace, _ = sent_messages(app, api, smtp_sink)
    newsletter = b"From: news@x.example\r\nSubject: News\r\nMessage-ID: <n@x.example>\r\n\r\nHi\r\n"
    dovecot.append(reply_to(ada))
    dovecot.append(newsletter)
    kept = connect(api, dovecot, "Kept")
    inbox.poll_mailbox(kept, datetime.now(UTC))
    assert len(uids(dovecot)) == 2

    with dovecot.client() as box:
        box.folder.create("Handled")
    dovecot.append(reply_to(grace))
    moving = connect(api, dovecot, "Moving", move_to="Handled")
    report = inbox.poll_mailbox(moving, datetime.now(UTC))

    # ada's reply was recorded by the first mailbox: a duplicate here, but about our email
    assert report.outcomes == {"duplicate": 1, "replied": 1, "unmatched": 1}, report
    assert len(uids(dovecot, "Handled")) == 2, "the replies about our emails are moved"
    assert len(uids(dovecot)) == 1, "the newsletter stays where it was"
    assert len(uids(dovecot, "Handled", "UNSEEN")) == 2


def test_a_failing_mailbox_keeps_its_error_and_the_next_one_is_polled(app, api, smtp_sink, dovecot):
    ada, *_ = sent_messages(app, api, smtp_sink)
    dovecot.append(reply_to(ada))
    broken = connect(api, dovecot, "Broken", password="wrong")
    working = connect(api, dovecot, "Working")

    reports = {report.name: report for report in inbox.poll_all(datetime.now(UTC))}

    assert "refused the user name or password" in (reports["Broken"].error or "")
    assert reports["Broken"].summary().startswith("Broken: failed: ")
    assert reports["Working"].error is None and reports["Working"].count("replied") == 1
    db.session.expire_all()
    assert "refused the user name or password" in (broken.last_error or "")
    assert working.last_error is None and inbound_events() == ["replied"]


def test_a_poll_reads_at_most_its_cap_and_the_next_poll_goes_on(
    app, api, smtp_sink, dovecot, monkeypatch
):
    messages = sent_messages(app, api, smtp_sink)
    for message in messages:
        dovecot.append(reply_to(message))
    mailbox = connect(api, dovecot)
    monkeypatch.setattr(inbox, "MAX_MESSAGES_PER_POLL", 2)

    assert inbox.poll_mailbox(mailbox, datetime.now(UTC)).new == 2
    assert inbox.poll_mailbox(mailbox, datetime.now(UTC)).new == 1
    assert inbound_events() == ["replied"] * 3


def test_a_message_over_the_size_cap_is_read_by_its_headers(
    app, api, smtp_sink, dovecot, monkeypatch
):
    ada, *_ = sent_messages(app, api, smtp_sink)
    dovecot.append(reply_to(ada))
    mailbox = connect(api, dovecot)
    monkeypatch.setattr(inbox, "MAX_MESSAGE_BYTES", 100)

    report = inbox.poll_mailbox(mailbox, datetime.now(UTC))

    assert report.count("replied") == 1 and inbound_events() == ["replied"]


def test_two_concurrent_pollers_handle_each_message_once(pg_app, dovecot):
    """PostgreSQL, two threads polling the same mailbox at the same moment: the receipt,
    written in the event's transaction, lets one of them record each message."""
    api = api_for(pg_app, "Acme")
    for sink in running_sink():
        pg_app.config["SMTP_URL"] = sink.url
        for message in sent_messages(pg_app, api, sink):
            dovecot.append(reply_to(message))
    mailbox_id = connect(api, dovecot).id
    now = datetime.now(UTC)
    reports: list[inbox.PollReport] = []
    together = threading.Barrier(2)

    def poll() -> None:
        with pg_app.app_context():
            together.wait()
            reports.append(inbox.poll_mailbox_id(mailbox_id, now))
            db.session.remove()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(reports) == 2 and all(report.error is None for report in reports), reports
    assert sum(report.count("replied") for report in reports) == 3
    assert inbound_events() == ["replied"] * 3 and receipts() == 3
