"""Connected inboxes: mailboxes read over IMAP for replies, bounces and complaints."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned
from app.models.types import UTCDateTime, uuid_pk


class Mailbox(WorkspaceOwned, Timestamped, db.Model):
    """One IMAP mailbox of a workspace; the password is sealed (services/secret_box.py).
    `uidvalidity` and `last_uid` say where the last poll stopped."""

    __tablename__ = "mailboxes"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))  # ssl | starttls | none
    username: Mapped[str] = mapped_column(String(320))
    sealed_password: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(255), default="INBOX")
    move_to: Mapped[str | None] = mapped_column(String(255))  # only if the user asked
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int | None] = mapped_column(BigInteger)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class InboxReceipt(WorkspaceOwned, db.Model):
    """A message of a mailbox already handled: (mailbox, UIDVALIDITY, UID) once only."""

    __tablename__ = "inbox_receipts"
    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "uid"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    mailbox_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("mailboxes.id", ondelete="CASCADE")
    )
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)
