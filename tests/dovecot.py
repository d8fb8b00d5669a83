"""A real IMAP server for tests: Debian's dovecot, configured in a temporary directory and
run in the foreground (`dovecot -F -c <conf>`) on a free 127.0.0.1 port. No mocked IMAP.

One user (USER / PASSWORD) with a Maildir in the temporary directory, plain-text login
without TLS. Run as root, the login processes use Debian's `dovenull` and `dovecot` users
and mail is stored as `nobody` (dovecot refuses root for both); as another user,
everything runs as that user.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from app.services.imap import MailboxSettings

DOVECOT = "/usr/sbin/dovecot"
USER = "sales@penguinmails.test"
PASSWORD = "dovecot-test-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dovecot:
    port: int
    root: Path

    def settings(self, **changes: object) -> MailboxSettings:
        """How the app reaches this server (plain IMAP), with any field changed."""
        values: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "none",
            "username": USER,
            "password": PASSWORD,
            "folder": "INBOX",
            "move_to": None,
        }
        return MailboxSettings(**{**values, **changes})  # type: ignore[arg-type]

    def client(self, folder: str | None = "INBOX") -> MailBoxUnencrypted:
        """A logged-in imap-tools connection of the test's own (use it with `with`)."""
        return MailBoxUnencrypted("127.0.0.1", self.port, timeout=10).login(
            USER, PASSWORD, initial_folder=folder
        )

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver a message the way a mail client files one: IMAP APPEND, unseen."""
        with self.client(None) as box:
            status, _ = box.client.append(folder, None, None, raw)
            assert status == "OK", status

    def reset(self) -> None:
        """Empty the mailbox: every folder but INBOX deleted, INBOX expunged."""
        with self.client() as box:
            for folder in box.folder.list():
                if folder.name != "INBOX":
                    box.folder.delete(folder.name)
            box.delete(box.uids("ALL"))


def _accounts() -> tuple[str, str, str, str]:
    """(internal user, login user, mail user, mail group)."""
    if os.geteuid() != 0:
        me = getpass.getuser()
        return me, me, me, grp.getgrgid(os.getegid()).gr_name
    return "dovecot", "dovenull", "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name


def _config(root: Path, port: int) -> str:
    internal, login, mail_user, mail_group = _accounts()
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def running_dovecot() -> Iterator[Dovecot]:
    """A fixture body: start dovecot, wait until it answers, stop it afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pm-dovecot-"))
    root.chmod(0o755)  # the mail user must reach its Maildir
    _, _, mail_user, mail_group = _accounts()
    for sub in ("mail", "home"):
        (root / sub).mkdir()
        shutil.chown(root / sub, mail_user, mail_group)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        _wait_for(port, process, root)
        yield Dovecot(port, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {output}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{port}")
