"""Settings, Connected inboxes: connecting a mailbox (password sealed, never shown back),
errors naming the field, "Test connection" against a real IMAP server (dovecot) saying what
failed, editing without retyping the password, disconnecting, CSRF."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models.inbox import Mailbox
from app.services.secret_box import unseal
from tests.dovecot import PASSWORD, USER, Dovecot
from tests.web.client import signed_in

PAGE = "/settings/mailboxes"


def form(dovecot: Dovecot, csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "name": "Sales inbox",
        "host": "127.0.0.1",
        "port": str(dovecot.port),
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "folder": "INBOX",
        "move_to": "",
        **changes,
    }


def stored() -> list[Mailbox]:
    db.session.expire_all()
    return list(db.session.scalars(select(Mailbox)))


def test_connecting_a_mailbox_stores_the_password_sealed_and_never_shows_it(app, dovecot):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert "Manage connected inboxes" in web.get("/settings").text
    csrf = web.csrf_token(PAGE)

    created = web.post(PAGE, data=form(dovecot, csrf))

    assert created.status_code == 302
    [mailbox] = stored()
    assert (mailbox.name, mailbox.host, mailbox.port, mailbox.security) == (
        "Sales inbox",
        "127.0.0.1",
        dovecot.port,
        "none",
    )
    assert PASSWORD not in mailbox.sealed_password and unseal(mailbox.sealed_password) == PASSWORD
    listing = web.get(PAGE).text
    assert "Sales inbox" in listing and "not yet" in listing and PASSWORD not in listing
    edit = web.get(f"{PAGE}/{mailbox.id}").text
    assert USER in edit and PASSWORD not in edit and mailbox.sealed_password not in edit


def test_a_missing_or_wrong_field_is_named_and_nothing_is_stored(app, dovecot):
    web = signed_in(app, "Acme", "ops@acme.test")
    csrf = web.csrf_token(PAGE)

    no_host = web.post(PAGE, data=form(dovecot, csrf, host=""))
    bad_port = web.post(PAGE, data=form(dovecot, csrf, port="imap"))
    no_password = web.post(PAGE, data=form(dovecot, csrf, password=""))

    assert no_host.status_code == 422 and "enter the IMAP server&#39;s host name" in no_host.text
    assert bad_port.status_code == 422 and "the port is a number such as 993" in bad_port.text
    assert "enter the password or an app password" in no_password.text
    assert stored() == []


def test_test_connection_says_what_failed_and_when_it_works(app, dovecot):
    web = signed_in(app, "Acme", "ops@acme.test")
    csrf = web.csrf_token(PAGE)
    headers = {"HX-Request": "true"}

    wrong = web.post(f"{PAGE}/test", data=form(dovecot, csrf, password="nope"), headers=headers)
    missing = web.post(f"{PAGE}/test", data=form(dovecot, csrf, folder="Archive"), headers=headers)
    right = web.post(f"{PAGE}/test", data=form(dovecot, csrf), headers=headers)

    assert "Connection failed" in wrong.text and "refused the user name or password" in wrong.text
    assert "there is no folder named &#39;Archive&#39;" in missing.text
    assert "Connected: the folder INBOX can be read." in right.text
    assert stored() == [], "testing stores nothing"


def test_editing_without_a_password_keeps_the_stored_one(app, dovecot):
    web = signed_in(app, "Acme", "ops@acme.test")
    csrf = web.csrf_token(PAGE)
    web.post(PAGE, data=form(dovecot, csrf))
    [mailbox] = stored()

    tested = web.post(f"{PAGE}/{mailbox.id}/test", data=form(dovecot, csrf, password=""))
    saved = web.post(f"{PAGE}/{mailbox.id}", data=form(dovecot, csrf, name="Support", password=""))

    assert "Connected" in tested.text
    assert saved.status_code == 302
    [mailbox] = stored()
    assert mailbox.name == "Support" and unseal(mailbox.sealed_password) == PASSWORD


def test_disconnecting_needs_the_csrf_token_and_removes_the_mailbox(app, dovecot):
    web = signed_in(app, "Acme", "ops@acme.test")
    csrf = web.csrf_token(PAGE)
    web.post(PAGE, data=form(dovecot, csrf))
    [mailbox] = stored()

    assert web.post(f"{PAGE}/{mailbox.id}/delete").status_code == 400
    assert len(stored()) == 1
    assert web.post(f"{PAGE}/{mailbox.id}/delete", data={"csrf_token": csrf}).status_code == 302
    assert stored() == []


def test_each_workspace_sees_only_its_own_mailboxes(app, dovecot):
    acme = signed_in(app, "Acme", "ops@acme.test")
    beta = signed_in(app, "Beta", "ops@beta.test")
    acme.post(PAGE, data=form(dovecot, acme.csrf_token(PAGE), name="Acme sales"))
    [mailbox] = stored()

    assert "Acme sales" not in beta.get(PAGE).text
    assert beta.get(f"{PAGE}/{mailbox.id}").status_code == 404
