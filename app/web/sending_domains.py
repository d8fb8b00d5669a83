"""Settings > Sending domains: add a domain (a DKIM key is made for it), the DNS records to
publish, copyable, the result of the last DNS check per record, and removal. Every id is
looked up within the signed-in user's workspace: another workspace's domain is a 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import dns.exception
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import SendingDomain
from app.services import sending_domains
from app.web import web_bp


def _page(status: int = 200, **context: Any) -> Any:
    domains = sending_domains.domains_of(current_user.workspace_id)
    records = {domain.id: sending_domains.dns_records(domain) for domain in domains}
    context.setdefault("errors", {})
    page = render_template(
        "settings/sending_domains.html", domains=domains, records=records, **context
    )
    return page, status


def _own(domain_id: uuid.UUID) -> SendingDomain:
    domain = db.session.scalar(
        select(SendingDomain).where(
            SendingDomain.id == domain_id, SendingDomain.workspace_id == current_user.workspace_id
        )
    )
    if domain is None:
        abort(404)
    return domain


@web_bp.get("/settings/domains")
@login_required
def sending_domains_page() -> Any:
    return _page()


@web_bp.post("/settings/domains")
@login_required
def add_sending_domain() -> Any:
    text = request.form.get("domain", "")
    try:
        domain = sending_domains.add_domain(current_user.workspace, text)
    except sending_domains.DomainError as exc:
        return _page(422, errors={"domain": str(exc)}, domain_text=text)
    flash(f"Added {domain.domain}: publish its DKIM record, then check DNS.", "ok")
    return redirect(url_for("web.sending_domains_page") + f"#domain-{domain.id}")


@web_bp.post("/settings/domains/<uuid:domain_id>/check")
@login_required
def check_sending_domain(domain_id: uuid.UUID) -> Any:
    domain = _own(domain_id)
    try:
        results = sending_domains.check_domain(domain, datetime.now(UTC))
    except dns.exception.DNSException as exc:  # no resolver at all (none configured, none found)
        flash(f"DNS check of {domain.domain} failed: {exc}", "error")
    else:
        ok = results["dkim"]["status"] == "ok"
        flash(
            f"{domain.domain}: DKIM record found, mail from it is signed."
            if ok
            else f"{domain.domain}: DKIM record {results['dkim']['status']}.",
            "ok" if ok else "error",
        )
    return redirect(url_for("web.sending_domains_page") + f"#domain-{domain.id}")


@web_bp.post("/settings/domains/<uuid:domain_id>/delete")
@login_required
def delete_sending_domain(domain_id: uuid.UUID) -> Any:
    domain = _own(domain_id)
    name = domain.domain
    sending_domains.delete_domain(domain)
    flash(f"Removed {name}: mail from it is no longer signed.", "ok")
    return redirect(url_for("web.sending_domains_page"))
