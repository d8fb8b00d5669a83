"""Sign-out and password change end every session: a copied session cookie or "keep me
signed in" cookie stops working, on this device and every other."""

from __future__ import annotations

from flask import Flask

from app.services import accounts
from tests.web.client import PASSWORD, Web

EMAIL = "ops@acme.test"
NEW_PASSWORD = "a-brand-new-passphrase"


def remembered_client(app: Flask, password: str = PASSWORD) -> Web:
    web = Web(app)
    token = web.csrf_token("/sign-in")
    form = {"csrf_token": token, "email": EMAIL, "password": password, "remember": "1"}
    answer = web.post("/sign-in", data=form)
    assert answer.status_code == 302
    return web


def cookies_of(web: Web) -> dict[str, str]:
    found = {}
    for name in ("session", "remember_token"):
        cookie = web.client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie"
        found[name] = cookie.value
    return found


def replay(app: Flask, **cookies: str) -> int:
    """A fresh browser given only these cookies: the status of a signed-in page."""
    web = Web(app)
    for name, value in cookies.items():
        web.client.set_cookie(name, value)
    return web.get("/sequences").status_code


def make_user(app: Flask) -> None:
    accounts.create_user(EMAIL, accounts.create_workspace("Acme"), PASSWORD)


def change_password(web: Web, current: str, new: str, again: str | None = None):
    """Post the Settings page's password form as a signed-in user would."""
    return web.post(
        "/settings/password",
        data={
            "csrf_token": web.csrf_token("/settings"),
            "current_password": current,
            "new_password": new,
            "confirm_password": new if again is None else again,
        },
    )


def test_after_sign_out_the_old_session_and_remember_cookies_no_longer_sign_in(app):
    make_user(app)
    web = remembered_client(app)
    copied = cookies_of(web)
    # Before sign-out each cookie alone is a signed-in browser.
    assert replay(app, session=copied["session"]) == 200
    assert replay(app, remember_token=copied["remember_token"]) == 200

    token = web.csrf_token("/sequences")
    assert web.post("/sign-out", data={"csrf_token": token}).status_code == 302

    assert replay(app, session=copied["session"]) == 302
    assert replay(app, remember_token=copied["remember_token"]) == 302
    assert replay(app, **copied) == 302
    # Signing in again works and gives a working session.
    assert remembered_client(app).get("/sequences").status_code == 200


def test_signing_out_on_one_device_signs_out_the_others(app):
    make_user(app)
    laptop, phone = remembered_client(app), remembered_client(app)
    token = laptop.csrf_token("/sequences")
    laptop.post("/sign-out", data={"csrf_token": token})
    assert phone.get("/sequences").status_code == 302


def test_a_password_change_keeps_this_session_and_ends_every_other(app):
    make_user(app)
    here, elsewhere = remembered_client(app), remembered_client(app)
    copied_here = cookies_of(here)

    changed = change_password(here, PASSWORD, NEW_PASSWORD)
    assert changed.status_code == 302
    page = here.get("/settings")
    assert page.status_code == 200 and "Password changed" in page.text
    # The remember cookie is renewed for the new generation: it alone still signs in.
    assert replay(app, remember_token=cookies_of(here)["remember_token"]) == 200

    assert elsewhere.get("/sequences").status_code == 302
    assert replay(app, session=copied_here["session"]) == 302
    assert replay(app, remember_token=copied_here["remember_token"]) == 302
    assert accounts.authenticate(EMAIL, PASSWORD) is None
    assert accounts.authenticate(EMAIL, NEW_PASSWORD) is not None


def test_a_wrong_current_password_or_a_mismatch_changes_nothing(app):
    make_user(app)
    web = remembered_client(app)

    def change(current: str, new: str, again: str) -> str:
        answer = change_password(web, current, new, again)
        assert answer.status_code == 422
        return answer.text

    assert "that is not your current password" in change("wrong-one", NEW_PASSWORD, NEW_PASSWORD)
    assert "the two new passwords differ" in change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert "at least 8 characters" in change(PASSWORD, "short", "short")
    assert accounts.authenticate(EMAIL, PASSWORD) is not None
    assert web.get("/sequences").status_code == 200
