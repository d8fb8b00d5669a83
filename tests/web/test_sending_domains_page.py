"""Settings > Sending domains: a domain is added with a CSRF token, its DNS records are shown
in copyable boxes, "Check DNS" shows what a real DNS server answered for each record, and
the domain can be deleted; another workspace sees none of it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import SendingDomain
from app.services import sending_domains
from tests.dns_server import LocalDns, running_dns
from tests.web.client import Web, signed_in

PAGE = "/settings/domains"


@pytest.fixture
def dns(app: Flask) -> Iterator[LocalDns]:
    for server in running_dns():
        app.config["DNS_RESOLVER"] = server.address
        yield server


def add(web: Web, domain: str):
    return web.post(PAGE, data={"csrf_token": web.csrf_token(PAGE), "domain": domain})


def stored() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(SendingDomain.domain)))


def test_settings_links_to_the_sending_domains_page(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert f'href="{PAGE}"' in web.get("/settings").text
    assert "No sending domains yet" in web.get(PAGE).text


def test_adding_a_domain_shows_its_records_in_copy_boxes(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert add(web, "Mail.Acme.test").status_code == 302
    [domain] = db.session.scalars(select(SendingDomain)).all()
    page = web.get(PAGE).text
    assert "mail.acme.test" in page and "not verified" in page
    assert "pm2026._domainkey.mail.acme.test" in page
    dkim_box = re.search(r'id="(record-dkim-[^"]+)" class="code" value="([^"]+)"', page)
    assert dkim_box and dkim_box.group(2) == f"v=DKIM1; k=rsa; p={domain.public_key}"
    assert f'data-copy="{dkim_box.group(1)}"' in page
    assert "v=DMARC1; p=none; rua=mailto:dmarc@mail.acme.test" in page
    assert "not checked yet" in page


def test_a_malformed_domain_is_refused_with_the_field_named(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    answer = add(web, "no spaces allowed")
    assert answer.status_code == 422
    assert 'id="domain-error"' in answer.text and "not a valid domain name" in answer.text
    assert stored() == []


def test_adding_needs_the_csrf_token(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert web.post(PAGE, data={"domain": "acme.test"}).status_code == 400
    assert stored() == []


def test_check_dns_shows_each_records_result(app, dns):
    web = signed_in(app, "Acme", "ops@acme.test")
    add(web, "acme.test")
    [domain] = db.session.scalars(select(SendingDomain)).all()
    dns.zone.publish("pm2026._domainkey.acme.test", sending_domains.dkim_value(domain))
    path = f"{PAGE}/{domain.id}/check"
    assert web.post(path, data={"csrf_token": web.csrf_token(PAGE)}).status_code == 302
    page = web.get(PAGE).text
    assert re.search(r'data-record="dkim">.*?data-status="ok"', page, re.DOTALL)
    assert re.search(r'data-record="dmarc">.*?data-status="missing"', page, re.DOTALL)
    assert "DKIM record found" in page and "verified" in page


def test_deleting_a_domain_removes_it(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    add(web, "acme.test")
    [domain_id] = db.session.scalars(select(SendingDomain.id)).all()
    token = web.csrf_token(PAGE)
    assert web.post(f"{PAGE}/{domain_id}/delete", data={"csrf_token": token}).status_code == 302
    assert stored() == []
    assert "Removed acme.test" in web.get(PAGE).text


def test_another_workspace_neither_sees_nor_deletes_the_domain(app):
    acme = signed_in(app, "Acme", "ops@acme.test")
    add(acme, "acme.test")
    [domain_id] = db.session.scalars(select(SendingDomain.id)).all()
    beta = signed_in(app, "Beta", "ops@beta.test")
    assert "acme.test" not in beta.get(PAGE).text
    token = beta.csrf_token(PAGE)
    assert beta.post(f"{PAGE}/{domain_id}/delete", data={"csrf_token": token}).status_code == 404
    assert stored() == ["acme.test"]
