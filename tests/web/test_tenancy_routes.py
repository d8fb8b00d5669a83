"""Every route with an id answers 404 to another workspace, whatever the method.

The routes come from `app.url_map`, so a new route is covered the day it is added: its id
arguments must have a factory in FACTORIES (which makes the object in workspace A), or the
route must be in PUBLIC_BY_DESIGN with the reason. Workspace B then asks for A's objects,
signed in on the pages and with its own token on the API, and must get 404 every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule
from werkzeug.routing.converters import AnyConverter

from app.extensions import db
from app.models import ApiToken, ContactSequence, OutboundMessage, Sequence, Workspace
from app.services import (
    accounts,
    contact_import,
    drafts,
    forms,
    gallery,
    segments,
    sending_domains,
)
from app.services import contacts as contact_service
from app.services import enrollment as enrollment_service
from app.services import mailboxes as mailbox_service
from app.services import sequences as sequence_service
from app.services.imap import MailboxSettings
from tests.helpers import onboarding_definition, tick
from tests.web.client import PASSWORD, Web

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")

PUBLIC_BY_DESIGN = {
    "static": "the app's own CSS and JavaScript, the same for everyone",
    "web.public_form": "a hosted form is public; its id is an unguessable token",
    "web.submit_public_form": "visitors submit hosted forms without an account",
    "web.tracked_click": "links in sent emails; the token is signed and names one message",
    "web.tracked_open": "the open pixel in sent emails; a signed token, always a 1x1 GIF",
    "web.unsubscribe_page": "the unsubscribe link in emails; a signed token",
    "web.unsubscribe": "the RFC 8058 one-click unsubscribe POST; a signed token",
    "hooks.receive": "sending providers post bounces here; the token is the URL's secret, "
    "checked with the provider's signature",
    "web.requeue_failed_job": "an RQ job id: the engine's periodic passes belong to no "
    "workspace (the health page's engine-wide section, for signed-in users)",
}
"""Endpoints whose path arguments are not workspace ids but public tokens, and why."""
WELL_FORMED = {"source": "email_1", "target": "wait_2d", "position": {"x": 0, "y": 0}}
"""The body of B's unsafe requests: well-formed for the builder's edits, which check their
input before the sequence (a malformed one is refused the same for every id)."""


@dataclass
class WorkspaceA:
    """Workspace A, whose objects B asks for; the sequence is shared by the factories that
    need one (its steps, its enrollment, its email)."""

    app: Flask
    workspace: Workspace
    token: str
    made: dict[str, Any] = field(default_factory=dict)

    def object_id(self, argument: str) -> Any:
        """The id for this route argument, made by its factory on first use."""
        if argument not in self.made:
            self.made[argument] = FACTORIES[argument](self)
        return self.made[argument]

    @cached_property
    def sequence(self) -> Sequence:
        """An active sequence with one contact enrolled and its first email queued."""
        now = datetime.now(UTC)
        sequence = sequence_service.create_sequence(
            self.workspace, sequence_service.parse_input(onboarding_definition())
        )
        sequence_service.set_status(sequence, "activate", now)
        contact, _ = contact_service.upsert_contact(self.workspace, {"email": "ada@a.test"})
        enrollment_service.enroll_contacts(sequence, [contact], now, "tenancy test")
        tick(self.app, now)
        return sequence


def only(query: Any) -> Any:
    """The one id a factory's query finds in workspace A."""
    return db.session.scalars(query).one()


FACTORIES: dict[str, Callable[[WorkspaceA], Any]] = {
    "sequence_id": lambda a: a.sequence.id,
    "step_id": lambda a: a.sequence.steps[0].key,
    "enrollment_id": lambda a: only(
        select(ContactSequence.id).where(ContactSequence.sequence_id == a.sequence.id)
    ),
    "message_id": lambda a: only(
        select(OutboundMessage.id).where(OutboundMessage.sequence_id == a.sequence.id)
    ),
    "contact_id": lambda a: (
        contact_service.upsert_contact(a.workspace, {"email": "g@a.test"})[0].id
    ),
    "segment_id": lambda a: (
        segments.create_segment(a.workspace, "VIPs", "static", None, datetime.now(UTC)).id
    ),
    "form_id": lambda a: forms.ensure_form(a.workspace.id, a.workspace.tenant_id, "Ebook").id,
    "import_id": lambda a: (
        contact_import.start_import(a.workspace, "a.csv", "email\nlin@a.test\n", None).id
    ),
    # shipped templates are everyone's by design; a workspace's own is keyed by its row id
    "key": lambda a: gallery.save_as_template(a.sequence, "A's template", None).id,
    "mailbox_id": lambda a: (
        mailbox_service.save_mailbox(
            a.workspace,
            "A's inbox",
            MailboxSettings("imap.a.test", 993, "ssl", "a@a.test", "secret"),
            datetime.now(UTC),
        ).id
    ),
    "token_id": lambda a: only(select(ApiToken.id).where(ApiToken.workspace_id == a.workspace.id)),
    # published version numbers of A's sequence (activation published version 1)
    "number": lambda a: a.sequence.published_version,
    "a": lambda a: a.sequence.published_version,
    "b": lambda a: a.sequence.published_version,
    "draft_id": lambda a: drafts.open_draft(a.sequence, None).id,
    "domain_id": lambda a: sending_domains.add_domain(a.workspace, "a.test").id,
}
"""Route argument name -> a factory that makes such an object in workspace A (its id)."""


def id_arguments(rule: Rule) -> list[str]:
    """The arguments that name an object; a fixed choice such as `<any(yaml, json):fmt>` does
    not."""
    return [name for name, conv in rule._converters.items() if not isinstance(conv, AnyConverter)]


def routes_with_ids(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if id_arguments(rule) and rule.endpoint not in PUBLIC_BY_DESIGN
    ]


def url_for_a(rule: Rule, a: WorkspaceA) -> str:
    """The rule's path with A's objects, and the first of a fixed choice."""
    values = {
        name: sorted(converter.items)[0]
        if isinstance(converter, AnyConverter)
        else a.object_id(name)
        for name, converter in rule._converters.items()
    }
    return rule.build(values, append_unknown=False)[1]


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


@pytest.fixture
def world(app: Flask) -> tuple[WorkspaceA, Web, str]:
    """Workspace A (objects made on demand); B signed in on the pages, and B's API token."""
    workspace_a = accounts.create_workspace("A")
    a = WorkspaceA(app, workspace_a, accounts.create_token(workspace_a))
    workspace_b = accounts.create_workspace("B")
    accounts.create_user("b@b.test", workspace_b, PASSWORD)
    b = Web(app)
    assert b.sign_in("b@b.test", PASSWORD).status_code == 302
    app.config["WTF_CSRF_ENABLED"] = False  # so an unsafe request reaches the view's own check
    return a, b, accounts.create_token(workspace_b)


def test_every_route_with_an_id_has_a_factory_or_is_public_by_design(app):
    missing = {
        f"{rule.rule} ({rule.endpoint}): {name}"
        for rule in routes_with_ids(app)
        for name in id_arguments(rule)
        if name not in FACTORIES
    }
    assert not missing, (
        "add a factory for these route arguments to FACTORIES in "
        "tests/web/test_tenancy_routes.py (or list a public route in PUBLIC_BY_DESIGN with "
        f"why): {sorted(missing)}"
    )


def test_another_workspaces_ids_answer_404_on_every_route_and_method(app, world):
    a, b, b_token = world
    answers = {
        (method, path): send(b, b_token, method, path).status_code
        for rule in routes_with_ids(app)
        for path in [url_for_a(rule, a)]
        for method in methods(rule)
    }
    wrong = {request: status for request, status in answers.items() if status != 404}
    assert not wrong, f"workspace B reached workspace A's objects: {wrong}"


def test_the_factories_make_objects_their_own_workspace_can_read(app, world):
    """The 404s above mean something only if the ids are real: A reads every one."""
    a, _, _ = world
    own = Web(app)
    accounts.create_user("a@a.test", a.workspace, PASSWORD)
    assert own.sign_in("a@a.test", PASSWORD).status_code == 302
    answers = {
        path: send(own, a.token, "GET", path).status_code
        for rule in routes_with_ids(app)
        if "GET" in methods(rule)
        for path in [url_for_a(rule, a)]
    }
    assert answers and set(answers.values()) == {200}, answers


def send(client: Web, token: str, method: str, path: str) -> Any:
    """A request as the app's own clients make it: the API with a Bearer token, the builder's
    JSON requests with the version header; CSRF is off, so only ownership can refuse it."""
    headers = {"X-Sequence-Version": "1"}
    if path.startswith("/api/"):
        headers["Authorization"] = f"Bearer {token}"
    body = WELL_FORMED if method in UNSAFE else None
    return client.send(method, path, json=body, headers=headers)
