"""Webinar Promo as a marketer uses it: "Use this template" in the gallery, the launch
checklist, the webinar's date set in the sequence's settings panel, Activate, then a
registrant submits the hosted form. The invite arrives at once and each reminder at its
instant before the webinar (not one second earlier, and never in the same second as the
invite), against a real SMTP server, with `flask sequences tick --now` at explicit instants.

The webinar is Monday 15 March 2027 at 12:00 in New York, the day after the clocks there
spring forward (Sunday 14 March 2027): "7 days before" is Monday 8 March 12:00 EST, 17:00
UTC, not the 16:00 UTC that 168 hours (or the sequence's UTC zone) would give. Expected
instants are written out by hand.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Form, Sequence
from tests.engine.test_gallery_e2e import Due, run_schedule, step_of, utc
from tests.web.client import Web, signed_in
from tests.web.test_panels import panel_values

pytestmark = pytest.mark.local_time

REGISTERED = utc(2027, 3, 1, 15, 0)  # Monday 1 March, 10:00 in New York
WHO = "kenji@registrant.test"


class _RegistrationClock(datetime):
    """The hosted form's view reads the wall clock once; the registration happens here."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return REGISTERED if tz is None else REGISTERED.astimezone(tz)


def use_webinar_promo(web: Web) -> uuid.UUID:
    csrf = web.csrf_token("/templates")
    response = web.post("/templates/webinar_promo/use", data={"csrf_token": csrf})
    found = re.fullmatch(r"/sequences/([0-9a-f-]{36})", response.headers["Location"])
    assert found, response.headers["Location"]
    return uuid.UUID(found.group(1))


def checklist_item(web: Web, sequence_id: uuid.UUID, key: str) -> str:
    page = web.get(f"/sequences/{sequence_id}/checklist").text
    start = page.find(f'data-check="{key}"')
    assert start >= 0, f"no checklist item {key}"
    return page[page.rfind("<li", 0, start) : page.find("</li>", start)]


def set_webinar_at(web: Web, sequence_id: uuid.UUID, local: str, zone: str) -> Any:
    url = f"/sequences/{sequence_id}/settings"
    values = panel_values(web.get(url).text)
    assert values["vars.0.name"] == "webinar_at" and values["vars.0.type"] == "datetime"
    values |= {"vars.0.value": local, "vars.0.timezone": zone}
    return web.post(url, data={"csrf_token": web.csrf_token("/sequences"), **values})


def status_of(app: Flask, sequence_id: uuid.UUID) -> str:
    with app.app_context():
        return db.session.get_one(Sequence, sequence_id).status


def test_webinar_promo_from_the_gallery_invites_a_registrant_now_and_reminds_before_the_webinar(
    app, smtp_sink, monkeypatch
):
    web = signed_in(app, "Acme", "marketer@acme.test")
    sequence_id = use_webinar_promo(web)
    csrf = web.csrf_token("/sequences")
    sent = web.post(f"/sequences/{sequence_id}/test-email", data={"csrf_token": csrf})
    assert "Sent 5 test email(s)" in sent.text

    blocked = checklist_item(web, sequence_id, "fields:sequence.webinar_at")
    assert 'class="check todo"' in blocked and "Sequence variable webinar_at is not set" in blocked
    assert "&#39;Until 7 days before the webinar&#39;" in blocked  # the step by its name
    refused = web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert "Finish the checklist" in refused.text and status_of(app, sequence_id) == "draft"

    saved = set_webinar_at(web, sequence_id, "2027-03-15T12:00", "America/New_York")
    assert saved.status_code == 200 and 'class="saved"' in saved.text
    assert (
        'class="check done" data-check="fields"'
        in web.get(f"/sequences/{sequence_id}/checklist").text
    )
    web.post(f"/sequences/{sequence_id}/status/activate", data={"csrf_token": csrf})
    assert status_of(app, sequence_id) == "active"

    with app.app_context():
        form = db.session.scalars(select(Form).where(Form.name == "Webinar Registration")).one()
        asked = [spec["name"] for spec in form.fields]
    assert asked == ["email", "first_name"]  # nothing a registrant cannot know
    monkeypatch.setattr("app.web.forms.datetime", _RegistrationClock)
    visitor = Web(app)
    thanks = visitor.post(f"/f/{form.public_id}", data={"email": WHO, "first_name": "Kenji"})
    assert thanks.status_code == 200

    schedule = [
        Due(WHO, "Invite", REGISTERED),
        Due(WHO, "Reminder 1 week before", utc(2027, 3, 8, 17, 0)),  # Mon 12:00 EST
        Due(WHO, "Reminder 1 day before", utc(2027, 3, 14, 16, 0)),  # Sun 12:00 EDT
        Due(WHO, "Link 1 hour before", utc(2027, 3, 15, 15, 0)),  # Mon 11:00 EDT
        Due(WHO, "Replay after", utc(2027, 3, 16, 16, 0)),  # Tue 12:00 EDT
    ]
    with app.app_context():
        run_schedule(app, smtp_sink, schedule)
        to_registrant = [m for m in smtp_sink.messages if m["To"].addresses[0].addr_spec == WHO]
        assert [step_of(m)[1] for m in to_registrant] == [due.step for due in schedule]
    invite = to_registrant[0].get_body(("html",)).get_content()
    assert "Hi Kenji," in invite
    assert "on Monday 15 March 2027, 12:00 (America/New_York) is confirmed" in invite


def test_the_checklist_blocks_a_webinar_timed_from_a_field_until_the_form_has_it_hidden(
    app, smtp_sink
):
    """The other way to give the webinar's time: delays on a contact field, which the form
    must then carry (as a hidden field with a fixed value)."""
    web = signed_in(app, "Acme", "marketer@acme.test")
    sequence_id = use_webinar_promo(web)
    with app.app_context():
        sequence = db.session.get_one(Sequence, sequence_id)
        for step in sequence.steps:
            if step.type == "delay":
                step.config = {**step.config, "field": "webinar_at"}
            elif step.key == "invite":
                body = step.config["body"].replace("sequence.webinar_at", "contact.webinar_at")
                step.config = {**step.config, "body": body}
        db.session.commit()

    blocked = checklist_item(web, sequence_id, "fields:webinar_at")
    assert 'class="check todo"' in blocked
    assert "Field webinar_at is not provided by the trigger" in blocked
    assert "&#39;Until 1 hour before the webinar&#39;" in blocked

    with app.app_context():
        form = db.session.scalars(select(Form).where(Form.name == "Webinar Registration")).one()
        form_id = form.id
    page = f"/forms/{form_id}"
    added = web.post(
        page,
        data={
            "csrf_token": web.csrf_token(page),
            "label.email": "Email",
            "label.first_name": "First name",
            "success_message": "See you there!",
            "new.name": "webinar_at",
            "new.label": "Webinar date",
            "new.type": "hidden",
            "new.value": "2027-03-15T12:00:00-04:00",
        },
    )
    assert added.status_code == 303, added.text
    assert (
        'data-check="fields:webinar_at"' not in web.get(f"/sequences/{sequence_id}/checklist").text
    )
    assert (
        'class="check done" data-check="fields"'
        in web.get(f"/sequences/{sequence_id}/checklist").text
    )
