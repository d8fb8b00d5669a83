"""Issue 20's smaller items on every page: the sign-in prompt reads as information, not
success; a favicon is linked and served; the demo's printed sign-in URL follows BASE_URL."""

from __future__ import annotations

import re

from click.testing import Result
from flask import Flask

from app.demo import DEMO_EMAIL
from tests.web.client import Web, signed_in


def test_the_sign_in_prompt_is_an_info_message_not_a_green_success(app: Flask) -> None:
    web = Web(app)
    redirected = web.get("/contacts")
    assert redirected.status_code == 302

    page = web.get(redirected.headers["Location"])

    assert '<p class="flash flash-info" role="status">Sign in to continue.</p>' in page.text


def test_every_page_links_a_favicon_that_is_served(app: Flask) -> None:
    anonymous = Web(app)
    web = signed_in(app, "Acme", "ann@acme.test")
    pages = [anonymous.get("/sign-in"), web.get("/sequences"), web.get("/contacts")]
    for page in pages:
        link = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page.text)
        assert link, f"no favicon link on {page.request.path}"

    icon = web.get(link.group(1))

    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml" and b"<svg" in icon.data
    # pages without our <head> (Werkzeug's 404) make browsers ask for /favicon.ico
    legacy = anonymous.get("/favicon.ico")
    assert legacy.status_code == 301 and legacy.headers["Location"] == link.group(1)


def test_the_demo_seed_prints_the_sign_in_url_from_base_url(app: Flask) -> None:
    app.config["BASE_URL"] = "https://mail.acme.test:8443"

    result: Result = app.test_cli_runner().invoke(args=["demo", "seed"])

    assert result.exit_code == 0, result.output
    assert f"Sign in at https://mail.acme.test:8443 as {DEMO_EMAIL} /" in result.output
