"""A workspace's connected mailboxes: checked input, saved with the password sealed.

The password is never given back: an edit that leaves it empty keeps the stored one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete

from app.extensions import db
from app.models import Workspace
from app.models.inbox import InboxReceipt, Mailbox
from app.services.imap import DEFAULT_PORTS, SECURITY_CHOICES, MailboxSettings
from app.services.secret_box import SecretUnreadable, seal, unseal

SECURITY_LABELS = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "None (plain text)"}


class MailboxError(ValueError):
    """Input refused; `field` names the form field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def list_mailboxes(workspace_id: uuid.UUID) -> list[Mailbox]:
    return list(db.session.scalars(Mailbox.in_workspace(workspace_id).order_by(Mailbox.name)))


def get_mailbox(workspace_id: uuid.UUID, mailbox_id: uuid.UUID) -> Mailbox | None:
    return db.session.scalar(Mailbox.in_workspace(workspace_id, Mailbox.id == mailbox_id))


def read_settings(form: Mapping[str, str], stored: Mailbox | None = None) -> MailboxSettings:
    """The settings a form describes; MailboxError naming the field otherwise. An empty
    password on an existing mailbox means the stored one."""
    host = form.get("host", "").strip()
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise MailboxError("enter the IMAP server's host name, e.g. imap.example.com", "host")
    security = form.get("security", "ssl")
    if security not in SECURITY_CHOICES:
        raise MailboxError("choose SSL/TLS, STARTTLS or None", "security")
    port_text = form.get("port", "").strip()
    try:
        port = int(port_text) if port_text else DEFAULT_PORTS[security]
    except ValueError:
        raise MailboxError("the port is a number such as 993", "port") from None
    if not 1 <= port <= 65535:
        raise MailboxError("the port is between 1 and 65535", "port")
    username = form.get("username", "").strip()
    if not username or len(username) > 320:
        raise MailboxError("enter the user name (often the email address)", "username")
    password = form.get("password", "")
    if not password:
        if stored is None:
            raise MailboxError("enter the password or an app password", "password")
        try:
            password = unseal(stored.sealed_password)
        except SecretUnreadable as exc:
            raise MailboxError(str(exc), "password") from None
    folder = form.get("folder", "").strip() or "INBOX"
    move_to = form.get("move_to", "").strip() or None
    for name, value in (("folder", folder), ("move_to", move_to)):
        if value is not None and len(value) > 255:
            raise MailboxError("a folder name has at most 255 characters", name)
    if move_to is not None and move_to == folder:
        raise MailboxError("choose another folder than the one read, or leave it empty", "move_to")
    return MailboxSettings(host, port, security, username, password, folder, move_to)


def read_name(form: Mapping[str, str]) -> str:
    name = form.get("name", "").strip()
    if not name or len(name) > 255:
        raise MailboxError("name the mailbox, e.g. Sales inbox", "name")
    return name


def save_mailbox(
    workspace: Workspace,
    name: str,
    settings: MailboxSettings,
    now: datetime,
    mailbox: Mailbox | None = None,
) -> Mailbox:
    """Create (or update) a mailbox; commits. A new server or folder starts reading anew."""
    if mailbox is None:
        mailbox = Mailbox(tenant_id=workspace.tenant_id, workspace_id=workspace.id, created_at=now)
        db.session.add(mailbox)
    elif (mailbox.host, mailbox.username, mailbox.folder) != (
        settings.host,
        settings.username,
        settings.folder,
    ):
        mailbox.uidvalidity = mailbox.last_uid = None  # another folder: its own UIDs
        mailbox.created_at = now  # read from about now on, as a new connection would
    mailbox.name = name
    mailbox.host, mailbox.port, mailbox.security = settings.host, settings.port, settings.security
    mailbox.username = settings.username
    mailbox.sealed_password = seal(settings.password)
    mailbox.folder, mailbox.move_to = settings.folder, settings.move_to
    mailbox.last_error = None
    db.session.commit()
    return mailbox


def delete_mailbox(mailbox: Mailbox) -> None:
    """Forget the mailbox and its receipts; nothing on the server changes."""
    db.session.execute(delete(InboxReceipt).where(InboxReceipt.mailbox_id == mailbox.id))
    db.session.delete(mailbox)
    db.session.commit()
