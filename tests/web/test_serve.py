"""The README's first run, as a newcomer types it: migrate, seed the demo, `flask serve`, sign in.

No Redis and EMBEDDED_SCHEDULER unset, so the scheduler thread inside `flask serve` must pick up
the demo's three enrollments and capture their first email without anyone running `tick`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_LINE = re.compile(r"Sign in at \S+ as (\S+@\S+) / (\S+)")
START_TIMEOUT = 30.0
SCHEDULER_TIMEOUT = 15.0


def flask_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "app:create_app", *args]


@pytest.fixture
def first_run_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("EMBEDDED_SCHEDULER", "REDIS_URL", "SMTP_URL", "BASE_URL", "FLASK_APP"):
        env.pop(name, None)
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'first-run.sqlite3'}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_flask(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        flask_command(*args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def wait_for_port(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"flask serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"flask serve did not answer on port {port} in {START_TIMEOUT:.0f}s:\n{log.read_text()}"
    )


@pytest.fixture
def served(first_run_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Migrate, seed, and serve; yields (base URL, the seed's printed credentials)."""
    run_flask(first_run_env, "db", "upgrade")
    seeded = run_flask(first_run_env, "demo", "seed")
    assert "Created the demo workspace" in seeded.stdout
    login = LOGIN_LINE.search(seeded.stdout)
    assert login, f"no login line in: {seeded.stdout!r}"
    email, password = login.groups()
    assert (email, password) == ("demo@penguinmails.test", "penguin-demo")

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            flask_command("serve", "--port", str(port)),
            cwd=ROOT,
            env=first_run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, server, log)
        yield f"http://127.0.0.1:{port}", {"email": email, "password": password}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    assert "Embedded scheduler: processing and sending" in log.read_text()


@pytest.mark.slow
def test_first_run_serves_the_demo_and_the_embedded_scheduler_captures_mail(served):
    base, credentials = served
    with requests.Session() as http:
        form = http.get(f"{base}/sign-in", timeout=10)
        assert form.status_code == 200
        assert form.headers["Server"] == "PenguinMails"  # no Werkzeug or Python version
        token = CSRF_INPUT.search(form.text)
        assert token, "the sign-in form carries a CSRF token"
        signed_in = http.post(
            f"{base}/sign-in", data={"csrf_token": token.group(1), **credentials}, timeout=10
        )
        assert signed_in.status_code == 200, signed_in.text  # redirects followed
        assert signed_in.url == f"{base}/sequences"
        assert "New User Onboarding" in signed_in.text

        deadline = time.monotonic() + SCHEDULER_TIMEOUT
        captured = 0
        while time.monotonic() < deadline:
            outbox = http.get(f"{base}/outbox", timeout=10)
            assert outbox.status_code == 200
            captured = outbox.text.count("Welcome to PenguinMails!")
            if captured >= 3:
                break
            time.sleep(0.5)
        assert captured == 3, f"the embedded scheduler captured {captured} of 3 welcome emails"
        for address in ("ada@example.com", "grace@example.com", "kenji@example.com"):
            assert address in outbox.text
        assert outbox.text.count('class="badge badge-captured">captured<') == 3
