"""Link tokens: signed by our own fast path, they must stay the bytes itsdangerous writes, so
links in mail already sent keep working and new ones read back anywhere."""

import sys
import threading
import time
import uuid

import pytest
from itsdangerous import URLSafeSerializer

from app.config import current_settings
from app.services import links, tracking
from app.services.links import token_serializer

MESSAGE = "6f1c0d3e9b2a4c58a7e1f0d2c3b4a596"
PAYLOADS = [MESSAGE, [MESSAGE, 41], "é ü", {"a": [1, None]}]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_token_is_the_same_bytes_as_itsdangerous_writes_for_the_same_key_and_salt(payload):
    ours = token_serializer("a secret", "some.salt").dumps(payload)

    assert ours == URLSafeSerializer("a secret", salt="some.salt").dumps(payload)
    assert URLSafeSerializer("a secret", salt="some.salt").loads(ours) == payload


def test_a_token_signed_with_another_key_or_salt_does_not_read_back():
    token = token_serializer("a secret", "some.salt").dumps(uuid.uuid4().hex)

    for key, salt in [("another secret", "some.salt"), ("a secret", "another.salt")]:
        assert URLSafeSerializer(key, salt=salt).loads_unsafe(token)[0] is False


def test_links_in_mail_sent_before_read_back_and_new_ones_match_them(app):
    message = uuid.uuid4()
    secret = current_settings().secret_key
    earlier = {
        salt: URLSafeSerializer(secret, salt=salt)
        for salt in (links._UNSUBSCRIBE_SALT, tracking._CLICK_SALT, tracking._OPEN_SALT)
    }

    old_unsubscribe = earlier[links._UNSUBSCRIBE_SALT].dumps(message.hex)
    old_click = earlier[tracking._CLICK_SALT].dumps([message.hex, 2])
    old_open = earlier[tracking._OPEN_SALT].dumps(message.hex)

    assert links.read_unsubscribe_token(old_unsubscribe) == message
    assert tracking.read_click_token(old_click) == (message, 2)
    assert tracking.read_open_token(old_open) == message
    assert links.unsubscribe_token(message) == old_unsubscribe
    assert tracking.click_token(message, 2) == old_click
    assert tracking.open_token(message) == old_open


def test_signing_a_token_keeps_the_interpreter_lock_so_no_other_thread_runs_meanwhile():
    """In a dispatcher pass the rendering thread signs two or more tokens a message; a call
    that lets go of the lock waits to get it back from the pass's other threads (about 50 µs
    a token, measured). Here another thread counts as soon as it has the lock: it is waiting
    for it while the tokens are signed, and with the switch interval at a second it gets it
    only if signing lets go."""
    serializer = token_serializer("a secret", "some.salt")
    serializer.dumps("warm")  # the key is derived once, before the thread runs
    go, stop, counted = threading.Event(), threading.Event(), [0]

    def count() -> None:
        go.wait()
        while not stop.is_set():
            counted[0] += 1

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    counter = threading.Thread(target=count)
    counter.start()
    try:
        go.set()
        woken = time.perf_counter()
        while time.perf_counter() - woken < 0.05:  # holding the lock: the counter waits for it
            pass
        before = counted[0]  # 0, unless another thread of the process took the lock meanwhile
        for position in range(3):
            serializer.dumps([MESSAGE, position])
        after = counted[0]
    finally:
        stop.set()
        counter.join()
        sys.setswitchinterval(interval)

    assert after == before
