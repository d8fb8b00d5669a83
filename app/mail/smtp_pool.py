"""A dispatcher pass's SMTP connections, in a process of their own.

Why a process: the connections' threads did little but wait for the server, yet each of a
message's four round trips had to win the GIL back from the thread rendering the next
messages, and the rendering thread from them. In a process of their own they answer the
server at once and rendering has the GIL to itself (bench/dispatcher.py).

The process (a relay) is started once per dispatcher process, on first use, and serves one
pass at a time; it is kept for the next pass, so a pass pays only for its connections, as
before. It shares no thread, lock or database connection with the dispatcher (it is
spawned, not forked). When the dispatcher's process ends or is killed, the relay takes no
further message and exits: every message it was given had been marked `sending`, so none
is sent twice. If the relay dies during a pass, each message it was given and did not
answer for comes back as `UncertainSendError`: it may have been sent.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Hashable
from email.message import EmailMessage
from multiprocessing.connection import Connection
from types import TracebackType

from app.mail.smtp import (
    SendError,
    SmtpReply,
    SmtpSettings,
    SmtpTransport,
    TransientSendError,
    UncertainSendError,
)

Content = bytes | EmailMessage
"""A message flattened to CRLF bytes (with its envelope given), or an EmailMessage."""
Job = tuple[Hashable, str, list[str], Content]
Outcome = SmtpReply | SendError
_CLOSED = "closed"  # the relay's answer once a pass's connections have said QUIT

_CONTEXT = multiprocessing.get_context("spawn")


class SmtpPool:
    """Up to `size` SMTP connections in the relay process, each with a thread that sends
    the messages given to `send` over it, one at a time.

    Entering opens the connections; a connection that cannot be opened leaves the pool
    smaller (`size`), and if none can, entering raises the first SendError. Leaving lets
    the connections finish what they were given and say QUIT."""

    def __init__(self, settings: SmtpSettings, size: int) -> None:
        self.settings, self.size = settings, size
        self._relay: _Relay | None = None
        self._pending: dict[Hashable, None] = {}  # given and not yet answered for, in order
        self._lock = threading.Lock()  # `send` and `result` may run in different threads

    def __enter__(self) -> SmtpPool:
        try:
            relay = _take_relay()
        except (EOFError, OSError) as exc:
            raise TransientSendError("the SMTP connections' process did not start") from exc
        try:
            relay.commands.send((self.settings, self.size))
            errors: list[SendError | None] = relay.replies.recv()
        except (EOFError, OSError) as exc:  # nothing was given to it yet: try again later
            relay.close()
            raise TransientSendError("the SMTP connections' process stopped") from exc
        self.size = errors.count(None)
        if not self.size:
            _give_back(relay)
            raise next(exc for exc in errors if exc is not None)
        self._relay = relay
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        relay, self._relay = self._relay, None
        if relay is None:
            return
        try:
            for _ in range(self.size):
                relay.commands.send(None)  # one per connection: its last message
            while relay.replies.recv() != _CLOSED:  # outcomes no one asked for: an error
                pass
        except (EOFError, OSError):
            relay.close()
            return
        _give_back(relay)

    def send(self, key: Hashable, sender: str, recipients: list[str], content: Content) -> None:
        """Send a message over the next free connection; its outcome comes from `result`
        with `key`. From one thread at a time."""
        relay = self._active()
        with self._lock:
            self._pending[key] = None
        relay.commands.send((key, sender, recipients, content))

    def result(self) -> tuple[Hashable, Outcome]:
        """A message's key and its outcome (in the order they finish), waiting for one."""
        relay = self._active()
        try:
            key, outcome = relay.replies.recv()
        except (EOFError, OSError):  # the relay died: what it was given may have gone
            with self._lock:
                key = next(iter(self._pending))
            outcome = UncertainSendError(
                "the SMTP connections' process stopped during the transaction, so the "
                "server may have accepted it"
            )
        with self._lock:
            del self._pending[key]
        return key, outcome

    @property
    def pid(self) -> int | None:
        """The relay's process id (for logs and tests)."""
        return self._active().process.pid

    def _active(self) -> _Relay:
        if self._relay is None:
            raise RuntimeError("SmtpPool used outside its with block")
        return self._relay


class _Relay:
    """The process and the two pipes to it: commands (a pass's opening, its messages, one
    None per connection to end it) and replies (the opening's errors, outcomes, `closed`)."""

    def __init__(self) -> None:
        commands_out, self.commands = _CONTEXT.Pipe(duplex=False)
        self.replies, replies_in = _CONTEXT.Pipe(duplex=False)
        self.process = _CONTEXT.Process(
            target=_relay,
            args=(commands_out, replies_in),
            name="smtp-connections",
            daemon=True,
        )
        self.process.start()
        commands_out.close()  # the relay's ends now live in the relay alone
        replies_in.close()
        try:
            self.replies.recv()  # ready: it has imported what it needs
        except (EOFError, OSError):
            self.close()
            raise

    def close(self) -> None:
        self.commands.close()  # the relay sees the end of its commands and exits
        self.replies.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


_idle: list[_Relay] = []
_idle_lock = threading.Lock()


def _take_relay() -> _Relay:
    """An idle relay of this process that is still alive, else a new one."""
    with _idle_lock:
        while _idle:
            relay = _idle.pop()
            if relay.process.is_alive():
                return relay
            relay.close()
    return _Relay()


def _give_back(relay: _Relay) -> None:
    with _idle_lock:
        _idle.append(relay)


def _forget_relays() -> None:
    """In a forked child (an rq work horse): the parent's relays are the parent's."""
    _idle.clear()


os.register_at_fork(after_in_child=_forget_relays)


def start_relay() -> None:
    """Start this process's relay now, so that its first pass does not wait for it."""
    _give_back(_take_relay())


def _relay(commands: Connection, replies: Connection) -> None:
    """The relay process: one pass at a time, until the dispatcher is gone (its ends of
    the pipes close, even when it is killed)."""
    answering = threading.Lock()  # one writer at a time on the replies pipe

    def answer(message: object) -> bool:
        data = pickle.dumps(message)
        with answering:
            try:
                replies.send_bytes(data)
            except OSError:  # the dispatcher is gone
                return False
        return True

    answer("ready")
    while True:
        try:
            settings, size = commands.recv()
        except (EOFError, OSError):
            return
        if _serve_pass(settings, size, commands, answer) and not answer(_CLOSED):
            return


def _serve_pass(
    settings: SmtpSettings,
    size: int,
    commands: Connection,
    answer: Callable[[object], bool],
) -> bool:
    """`size` connections, each a thread that takes the next message from the pipe itself
    until it reads None or the pipe ends. A thread takes a message only once it has
    reported the last one's outcome, so when the dispatcher is gone (its end of the replies
    pipe closed) no further message goes out. Whether any connection opened."""
    opened: queue.SimpleQueue[SendError | None] = queue.SimpleQueue()
    taking = threading.Lock()  # one reader at a time on the commands pipe

    def next_job() -> Job | None:
        with taking:
            try:
                data = commands.recv_bytes()
            except (EOFError, OSError):
                return None
        job: Job | None = pickle.loads(data)
        return job

    def connection() -> None:
        try:
            with SmtpTransport(settings) as transport:
                opened.put(None)
                while (job := next_job()) is not None:
                    key, sender, recipients, content = job
                    try:
                        if isinstance(content, EmailMessage):
                            outcome: Outcome = transport.send(content)
                        else:
                            outcome = transport.send_raw(sender, recipients, content)
                    except SendError as exc:
                        outcome = exc
                    except Exception as exc:  # a fault here, not a refusal: it may have gone
                        outcome = UncertainSendError(f"the SMTP transaction failed: {exc!r}")
                    if not answer((key, outcome)):
                        return
        except SendError as exc:
            opened.put(exc)

    threads = [threading.Thread(target=connection, name=f"smtp-{i}") for i in range(size)]
    for thread in threads:
        thread.start()
    errors = [opened.get() for _ in threads]
    answer(errors)
    for thread in threads:
        thread.join()
    return None in errors
