"""The launch checklist's check of the values the steps read, against what each trigger
supplies: a hosted form's fields (required, optional, hidden), an event's properties, the
fields the workspace's contacts have. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import yaml

from app.services import accounts, contacts, forms, sequences
from app.services.gallery import GALLERY_DIR as GALLERY
from app.services.launch import launch_checklist, ready_to_launch


def renewal_sequence(workspace, trigger: dict[str, Any]):
    """An email that greets by company, a delay until a day before `renewal_at`."""
    definition = {
        "format": "sequence/v1",
        "name": "Renewal",
        "trigger": trigger,
        "steps": [
            {
                "id": "hello",
                "type": "email",
                "name": "Hello",
                "config": {"subject": "Hi", "body": "<p>Dear {{ contact.company }}</p>"},
            },
            {
                "id": "wait",
                "type": "delay",
                "name": "Until the day before renewal",
                "config": {"until": "field", "field": "renewal_at", "offset": "-1 day"},
            },
            {
                "id": "remind",
                "type": "email",
                "name": "Reminder",
                "config": {"subject": "Tomorrow", "body": "<p>Renewal tomorrow.</p>"},
            },
        ],
        "connections": [
            {"source": "hello", "target": "wait"},
            {"source": "wait", "target": "remind"},
        ],
    }
    return sequences.create_sequence(workspace, sequences.parse_input(definition))


def field_items(sequence) -> dict[str, tuple[bool, bool, str]]:
    """key -> (done, blocking, label and detail) of the checklist's field items."""
    return {
        item.key: (item.done, item.blocking, f"{item.label}: {item.detail}")
        for item in launch_checklist(sequence)
        if item.key.startswith("fields")
    }


def test_a_form_that_lacks_the_timed_field_blocks_naming_the_step_and_warns_for_the_rest(app):
    workspace = accounts.create_workspace("Acme")
    sequence = renewal_sequence(workspace, {"type": "form_submission", "form": "Renewals"})
    items = field_items(sequence)
    done, blocking, text = items["fields:renewal_at"]
    assert (done, blocking) == (False, True)
    assert "'Until the day before renewal'" in text and "wait is skipped" in text
    assert items["fields:company"][:2] == (False, False)
    assert not ready_to_launch(launch_checklist(sequence))


def test_optional_form_fields_warn_and_required_or_hidden_ones_supply_the_value(app):
    workspace = accounts.create_workspace("Acme")
    sequence = renewal_sequence(workspace, {"type": "form_submission", "form": "Renewals"})
    form = forms.ensure_form(workspace.id, workspace.tenant_id, "Renewals")
    base = [dict(spec) for spec in form.fields]
    optional = {"name": "renewal_at", "label": "Renewal", "type": "datetime", "timezone": "UTC"}
    forms.update_form(form, {"fields": [*base, optional]})
    assert field_items(sequence)["fields:renewal_at"][:2] == (False, False)

    hidden = {"name": "renewal_at", "label": "Renewal", "type": "hidden", "value": "2027-01-01"}
    company = {"name": "company", "label": "Company", "type": "text", "required": True}
    forms.update_form(form, {"fields": [*base, hidden, company]})
    assert field_items(sequence) == {
        "fields": (True, True, "Every value the steps use is provided: 2 checked")
    }


def test_fields_the_workspaces_contacts_have_count_as_supplied_for_a_segment_trigger(app):
    workspace = accounts.create_workspace("Acme")
    sequence = renewal_sequence(workspace, {"type": "segment_join", "segment": "Customers"})
    assert set(field_items(sequence)) == {"fields:renewal_at", "fields:company"}
    contacts.upsert_contact(
        workspace,
        {"email": "ops@initech.test", "fields": {"company": "Initech", "renewal_at": "2027-01-01"}},
    )
    assert set(field_items(sequence)) == {"fields"}


def test_an_event_trigger_only_warns_as_its_events_may_carry_the_value(app):
    workspace = accounts.create_workspace("Acme")
    sequence = renewal_sequence(workspace, {"type": "api_event", "event": "plan_bought"})
    done, blocking, text = field_items(sequence)["fields:renewal_at"]
    assert (done, blocking) == (False, False) and "the triggering event may carry it" in text


def test_the_api_activates_webinar_promo_without_its_date_but_warns_what_would_break(app, api):
    text = (GALLERY / "webinar_promo.yaml").read_text(encoding="utf-8")
    created = api.post("/api/sequences", json=yaml.safe_load(text))
    assert created.status_code == 201, created.get_json()
    activated = api.post(f"/api/sequences/{created.get_json()['id']}/activate")
    assert activated.status_code == 200
    [warning] = activated.get_json()["warnings"]
    assert warning["field"] == "settings.variables.webinar_at"
    assert warning["message"].startswith("Sequence variable webinar_at is not set: ")
    assert "'Until 1 hour before the webinar'" in warning["message"]
