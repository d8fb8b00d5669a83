"""Session cookies are HTTP-only and same-site, and Secure when the app is served over https."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from app.services import accounts
from tests.conftest import Backend, make_app, truncate_all


@pytest.fixture
def app_at(sqlite_backend: Backend) -> Iterator[Callable[[str], Flask]]:
    """Build the app for a given BASE_URL; its tables are emptied afterwards."""
    built: list[Flask] = []

    def build(base_url: str) -> Flask:
        built.append(make_app(sqlite_backend, BASE_URL=base_url))
        return built[-1]

    yield build
    for app in built:
        with app.app_context():
            truncate_all()


def sign_in_cookie(app: Flask) -> str:
    with app.app_context():
        workspace = accounts.create_workspace("Cookies")
        accounts.create_user("c@example.com", workspace, "long-password")
    client = app.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/sign-in",
        data={"email": "c@example.com", "password": "long-password", "csrf_token": token},
    )
    assert response.status_code == 302
    return "; ".join(response.headers.getlist("Set-Cookie"))


def test_https_deployments_get_secure_cookies(app_at):
    cookie = sign_in_cookie(app_at("https://mail.example.com"))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_development_keeps_cookies_usable(app_at):
    cookie = sign_in_cookie(app_at("http://127.0.0.1:5000"))
    assert "Secure" not in cookie and "SameSite=Lax" in cookie
