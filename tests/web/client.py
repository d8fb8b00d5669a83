"""A browser-like test client for the server-rendered pages and the builder's requests."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from flask import Flask
from werkzeug.test import TestResponse

CSRF_INPUT = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
PASSWORD = "correct-horse-battery"


class Web:
    """A browser-like client: keeps its cookies, each request in a fresh app context."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        with self.app.app_context():
            return self.client.post(path, **kwargs)

    def csrf_token(self, path: str) -> str:
        page = self.get(path)
        assert page.status_code == 200, page.status
        found = CSRF_INPUT.search(page.text)
        assert found, f"no csrf_token input on {path}"
        return found.group(1)

    def sign_in(self, email: str, password: str, next_path: str | None = None) -> TestResponse:
        token = self.csrf_token("/sign-in")
        url = "/sign-in" + (f"?next={quote(next_path, safe='')}" if next_path else "")
        return self.post(url, data={"csrf_token": token, "email": email, "password": password})

    def send(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> TestResponse:
        """A JSON or htmx request, as builder.js sends them."""
        with self.app.app_context():
            return self.client.open(path, method=method, json=json, headers=headers or {})


def signed_in(app: Flask, workspace_name: str, email: str) -> Web:
    """A new workspace with one user, and a client signed in as that user."""
    from app.services import accounts

    workspace = accounts.create_workspace(workspace_name)
    accounts.create_user(email, workspace, PASSWORD)
    client = Web(app)
    assert client.sign_in(email, PASSWORD).status_code == 302
    return client
