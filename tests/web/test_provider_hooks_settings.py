"""Settings → Provider webhooks: enabling shows the URL to paste into the provider, the
provider's secret is stored sealed and never shown back, rotating and disabling retire the
URL, every form needs its CSRF token, and a workspace sees and changes only its own."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import ProviderHook
from tests.web.client import signed_in

URL = re.compile(r'id="hook-url-(\w+)" class="code" value="(http://pm\.test/hooks/\w+/[\w-]+)"')
PASSWORD = "correct-horse-battery-staple"


def urls(page: str) -> dict[str, str]:
    return dict(URL.findall(page))


def stored(provider: str) -> list[ProviderHook]:
    db.session.expire_all()
    return list(db.session.scalars(select(ProviderHook).where(ProviderHook.provider == provider)))


def enable(web, provider: str) -> str:
    token = web.csrf_token("/settings/provider-hooks")
    answer = web.post(f"/settings/provider-hooks/{provider}/enable", data={"csrf_token": token})
    assert answer.status_code == 302
    return urls(web.get("/settings/provider-hooks").text)[provider]


def test_the_settings_page_links_to_provider_webhooks_and_each_provider_can_be_enabled(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert 'href="/settings/provider-hooks"' in web.get("/settings").text
    page = web.get("/settings/provider-hooks").text
    assert urls(page) == {}
    for label in ("Amazon SES (through SNS)", "Postmark", "SendGrid", "Mailgun"):
        assert label in page

    url = enable(web, "postmark")

    [hook] = stored("postmark")
    assert url == f"http://pm.test/hooks/postmark/{hook.token}"
    assert "None stored yet" in web.get("/settings/provider-hooks").text


def test_enabling_needs_the_csrf_token(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert web.post("/settings/provider-hooks/mailgun/enable").status_code == 400
    assert stored("mailgun") == []


def test_the_secret_is_stored_sealed_and_never_shown_back(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    enable(web, "postmark")
    token = web.csrf_token("/settings/provider-hooks")

    saved = web.post(
        "/settings/provider-hooks/postmark/secret", data={"csrf_token": token, "secret": PASSWORD}
    )

    assert saved.status_code == 302
    [hook] = stored("postmark")
    assert hook.sealed_secret and PASSWORD not in hook.sealed_secret
    page = web.get("/settings/provider-hooks").text
    assert PASSWORD not in page and "A value is stored" in page


def test_a_secret_the_provider_cannot_use_is_refused_beside_its_field(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    enable(web, "ses")
    token = web.csrf_token("/settings/provider-hooks")

    answer = web.post(
        "/settings/provider-hooks/ses/secret",
        data={"csrf_token": token, "secret": "arn:aws:sqs:us-east-1:123456789012:q"},
    )

    assert answer.status_code == 422
    assert (
        "SNS topic ARNs: &#39;arn:aws:sqs:us-east-1:123456789012:q&#39; is not an SNS topic ARN"
        in answer.text
    )
    assert stored("ses")[0].sealed_secret is None


def test_rotating_gives_a_new_url_and_the_old_one_answers_404(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    old = enable(web, "mailgun")
    token = web.csrf_token("/settings/provider-hooks")

    web.post("/settings/provider-hooks/mailgun/rotate", data={"csrf_token": token})

    new = urls(web.get("/settings/provider-hooks").text)["mailgun"]
    assert new != old
    assert app.test_client().post(old.removeprefix("http://pm.test"), json={}).status_code == 404
    assert app.test_client().post(new.removeprefix("http://pm.test"), json={}).status_code == 401


def test_disabling_forgets_the_hook_and_its_url(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    url = enable(web, "sendgrid")
    token = web.csrf_token("/settings/provider-hooks")

    answer = web.post("/settings/provider-hooks/sendgrid/disable", data={"csrf_token": token})

    assert answer.status_code == 302 and stored("sendgrid") == []
    assert app.test_client().post(url.removeprefix("http://pm.test"), json=[]).status_code == 404


def test_a_workspace_sees_and_changes_only_its_own_hooks(app):
    acme = signed_in(app, "Acme", "ops@acme.test")
    beta = signed_in(app, "Beta", "ops@beta.test")
    acme_url = enable(acme, "postmark")

    assert acme_url not in beta.get("/settings/provider-hooks").text
    token = beta.csrf_token("/settings/provider-hooks")
    for action in ("rotate", "disable"):
        answer = beta.post(
            f"/settings/provider-hooks/postmark/{action}", data={"csrf_token": token}
        )
        assert answer.status_code == 404
    answer = beta.post(
        "/settings/provider-hooks/postmark/secret", data={"csrf_token": token, "secret": PASSWORD}
    )
    assert answer.status_code == 404
    [hook] = stored("postmark")
    assert acme_url.endswith(hook.token) and hook.sealed_secret is None
