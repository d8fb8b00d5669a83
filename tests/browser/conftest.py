"""Browser fixtures: Debian's Chromium through Playwright, and the app served in a thread.

`playwright install` cannot download browsers here, so the system Chromium is launched
instead. Without it the browser tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app.extensions import db
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import Backend, make_app, truncate_all, unavailable


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch arguments, pointed at the system Chromium."""
    if not CHROMIUM.exists():
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A laptop-sized window: the builder's palette, canvas and panel side by side."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture
def live_app(sqlite_backend: Backend) -> Iterator[Flask]:
    """The app on the SQLite test database; its tables are emptied afterwards.

    No app context stays pushed: the test pushes one to create data, and the server's threads
    each get their own per request, as in production.
    """
    app = make_app(sqlite_backend)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            truncate_all()
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[str]:
    """`live_app` served over HTTP on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
