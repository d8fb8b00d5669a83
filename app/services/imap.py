"""Talking to an IMAP server (imap-tools over imaplib): connecting with the chosen security,
saying in words what failed, and reading messages without changing them.

Every failure becomes an ImapFailure whose message names what to fix (the host name, the
port or security, the password, the folder), for the Settings page's "Test connection"
and the mailbox's `last_error`. Messages are read with BODY.PEEK, so \\Seen is never set.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import (
    ImapToolsError,
    MailboxFolderSelectError,
    MailboxLoginError,
    MailboxStarttlsError,
    UnexpectedCommandStatusError,
)
from imap_tools.mailbox import BaseMailBox

from app.tls import client_context

SECURITY_CHOICES = ("ssl", "starttls", "none")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
TIMEOUT_SECONDS = 20.0
"""How long one connection attempt or one command may wait for the server."""
_SIZE = re.compile(rb"UID (\d+)[^)]*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+)[^)]*?UID (\d+)")
_UID = re.compile(rb"UID (\d+)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapFailure(Exception):
    """What went wrong talking to the server, in words a marketer can act on."""


@dataclass(frozen=True)
class MailboxSettings:
    """How to reach one mailbox (the password in clear, only in memory)."""

    host: str
    port: int
    security: str  # ssl | starttls | none
    username: str
    password: str
    folder: str = "INBOX"
    move_to: str | None = None


@dataclass(frozen=True)
class Selected:
    """A folder as the server announced it on SELECT."""

    uidvalidity: int
    uidnext: int | None


@contextmanager
def connected(settings: MailboxSettings) -> Iterator[BaseMailBox]:
    """A logged-in connection (no folder selected yet), logged out afterwards."""
    where = f"{settings.host}:{settings.port}"
    box = _open(settings, where)
    try:
        try:
            box.login(settings.username, settings.password, initial_folder=None)
        except MailboxLoginError:
            raise ImapFailure(
                f"{where} refused the user name or password for {settings.username!r} "
                "(some providers need an app password)"
            ) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapFailure(f"{where} broke off the sign-in: {exc}") from None
        yield box
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapFailure(f"the connection to {where} failed: {exc}") from None
    finally:
        try:
            box.logout()
        except (OSError, imaplib.IMAP4.error, ImapToolsError):
            box.client.shutdown()  # the server is gone or confused: just close the socket


def _open(settings: MailboxSettings, where: str) -> BaseMailBox:
    context = client_context()
    try:
        if settings.security == "ssl":
            return MailBox(
                settings.host, settings.port, timeout=TIMEOUT_SECONDS, ssl_context=context
            )
        if settings.security == "starttls":
            return _starttls(settings, context, where)
        return MailBoxUnencrypted(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
    except socket.gaierror:
        raise ImapFailure(
            f"cannot find the server {settings.host!r}: check the host name"
        ) from None
    except ConnectionRefusedError:
        raise ImapFailure(
            f"{where} refused the connection: check the port and the security setting"
        ) from None
    except TimeoutError:
        raise ImapFailure(
            f"no answer from {where} within {TIMEOUT_SECONDS:.0f} seconds: check the host, "
            "the port and any firewall"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise ImapFailure(
            f"the TLS certificate of {where} is not trusted: {exc.verify_message}"
        ) from None
    except ssl.SSLError as exc:
        raise ImapFailure(
            f"TLS failed with {where} ({exc.reason or exc}): check the security setting "
            "(SSL/TLS on 993, STARTTLS on 143)"
        ) from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapFailure(f"cannot talk IMAP with {where}: {exc}") from None


def _starttls(settings: MailboxSettings, context: ssl.SSLContext, where: str) -> BaseMailBox:
    try:
        return MailBoxStartTls(
            settings.host, settings.port, timeout=TIMEOUT_SECONDS, ssl_context=context
        )
    except (MailboxStarttlsError, imaplib.IMAP4.error):  # imaplib: "TLS not supported"
        raise ImapFailure(f"{where} does not offer STARTTLS: choose SSL/TLS or None") from None


def select(box: BaseMailBox, folder: str, readonly: bool) -> Selected:
    """Open the folder (EXAMINE when readonly: nothing in it can change) and read its
    UIDVALIDITY and UIDNEXT from the server's answer."""
    try:
        box.folder.set(folder, readonly=readonly)
    except MailboxFolderSelectError:
        raise ImapFailure(f"there is no folder named {folder!r} in this mailbox") from None
    _, validity = box.client.response("UIDVALIDITY")
    _, uidnext = box.client.response("UIDNEXT")
    if not validity or validity[0] is None:
        raise ImapFailure(f"the server announced no UIDVALIDITY for {folder!r}")
    return Selected(int(validity[-1]), int(uidnext[-1]) if uidnext and uidnext[-1] else None)


def require_folder(box: BaseMailBox, folder: str) -> None:
    if not box.folder.exists(folder):
        raise ImapFailure(f"there is no folder named {folder!r} to move handled messages to")


def uids_from(box: BaseMailBox, first: int) -> list[int]:
    """UIDs >= first, ascending. (`first:*` also matches the highest UID when every UID is
    lower, as RFC 3501 says; those are dropped.)"""
    found = box.uids(f"UID {first}:*")
    return sorted(uid for uid in map(int, found) if uid >= first)


def uids_since(box: BaseMailBox, day: date) -> list[int]:
    """UIDs of the messages whose internal date is on or after this day."""
    month = _MONTHS[day.month - 1]  # IMAP's English abbreviations, whatever the locale
    return sorted(map(int, box.uids(f"SINCE {day.day:02d}-{month}-{day.year}")))


def sizes(box: BaseMailBox, uids: list[int]) -> dict[int, int]:
    """RFC822.SIZE of each of these UIDs that still exists."""
    if not uids:
        return {}
    status, data = box.client.uid("FETCH", _set(uids), "(UID RFC822.SIZE)")
    _check(status, "FETCH RFC822.SIZE")
    found: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        match = _SIZE.search(line or b"")
        if match:
            uid, size = (match.group(1), match.group(2)) if match.group(1) else match.group(4, 3)
            found[int(uid)] = int(size)
    return found


def peek(box: BaseMailBox, uids: list[int], headers_only: bool = False) -> dict[int, bytes]:
    """The raw messages (or their headers only) by UID, read with BODY.PEEK: unseen mail
    stays unseen."""
    if not uids:
        return {}
    part = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
    status, data = box.client.uid("FETCH", _set(uids), f"(UID {part})")
    _check(status, "FETCH")
    found: dict[int, bytes] = {}
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            match = _UID.search(item[0])
            if match:
                found[int(match.group(1))] = item[1]
    return found


def move(box: BaseMailBox, uids: list[int], folder: str) -> None:
    if uids:
        box.move([str(uid) for uid in uids], folder)


def _set(uids: list[int]) -> str:
    return ",".join(str(uid) for uid in uids)


def _check(status: str, command: str) -> None:
    if status != "OK":
        raise UnexpectedCommandStatusError(f"{command} answered {status}")


def test_connection(settings: MailboxSettings) -> str | None:
    """None when the mailbox can be read as set up; else what failed, in words: the host
    name, the port or TLS, the password, the folder, the move-to folder."""
    try:
        with connected(settings) as box:
            select(box, settings.folder, readonly=True)
            if settings.move_to:
                require_folder(box, settings.move_to)
    except ImapFailure as exc:
        return str(exc)
    except UnexpectedCommandStatusError as exc:
        return f"the server refused a command: {exc}"
    return None


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
