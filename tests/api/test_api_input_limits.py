"""Bad input to the API is refused with 422 naming the field, and nothing is stored:
contacts (POST and PATCH share one model), addresses, imports, enrollment contexts."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core import limits
from app.extensions import db
from app.models import Contact, Sequence
from tests.conftest import ApiClient
from tests.core.test_definition_limits import BILLION_LAUGHS
from tests.helpers import onboarding_definition

GOOD = {"email": "ada@example.com", "first_name": "Ada"}


def contact_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Contact)) or 0


def refused(response: Any, field: str) -> str:
    assert response.status_code == 422, (response.status_code, response.json)
    assert response.json["error"]["field"] == field, response.json
    return response.json["error"]["message"]


BAD_CONTACTS = {
    "a 100k-character first name": ({"first_name": "x" * 100_000}, "first_name"),
    "an object as first name": ({"first_name": {"a": 1}}, "first_name"),
    "a number as last name": ({"last_name": 7}, "last_name"),
    "a 10k-character email": ({"email": "a" * 10_000 + "@example.com"}, "email"),
    "a list as email": ({"email": ["a@b.co"]}, "email"),
    "a field named empty": ({"fields": {"": 1}}, "fields"),
    "a field name of 65 characters": ({"fields": {"k" * 65: 1}}, "fields"),
    "a 20 MB-ish field value": ({"fields": {"notes": "x" * 20_000}}, "fields.notes"),
    "a NUL in a field value": ({"fields": {"notes": "a\x00b"}}, "fields.notes"),
    "a line break in a first name": ({"first_name": "Bob\r\nBcc: x@y.test"}, "first_name"),
    "a U+2028 in a last name": ({"last_name": "Bob\u2028x"}, "last_name"),
    "too many fields": ({"fields": {f"f{i}": i for i in range(limits.FIELDS + 1)}}, "fields"),
    "a tag that is not text": ({"tags": ["vip", 3]}, "tags"),
    "an unknown key": ({"phone": "555"}, "phone"),
    "two addresses in one": ({"email": "x@y.test,victim@z.test"}, "email"),
    "markup as an address": ({"email": "<svg/onload=alert(1)>@x.com"}, "email"),
    "an IP literal": ({"email": "a@[127.0.0.1]"}, "email"),
}


@pytest.mark.parametrize("case", BAD_CONTACTS.keys())
def test_post_api_contacts_refuses_bad_input_naming_the_field(api: ApiClient, case: str) -> None:
    change, field = BAD_CONTACTS[case]
    refused(api.post("/api/contacts", json=GOOD | change), field)
    assert contact_count() == 0


@pytest.mark.parametrize(
    "case", [c for c in BAD_CONTACTS if "email" not in c and "address" not in c and "IP" not in c]
)
def test_patch_api_contacts_refuses_the_same_input_with_the_same_model(
    api: ApiClient, case: str
) -> None:
    created = api.post("/api/contacts", json=GOOD)
    assert created.status_code == 201
    change, field = BAD_CONTACTS[case]
    refused(api.patch(f"/api/contacts/{created.json['id']}", json=change), field)
    assert api.get(f"/api/contacts/{created.json['id']}").json == created.json


def test_a_list_email_is_refused_not_stored_as_its_repr(api: ApiClient) -> None:
    message = refused(api.post("/api/contacts", json={"email": ["a@b.c"]}), "email")
    assert "text" in message
    assert db.session.scalar(select(Contact.email)) is None


def test_an_address_is_stored_normalised(api: ApiClient) -> None:
    created = api.post("/api/contacts", json={"email": " Ada@Example.COM "})
    assert created.status_code == 201 and created.json["email"] == "Ada@example.com"


def test_an_import_with_a_billion_laughs_is_refused_at_once_with_flat_memory(
    api: ApiClient,
) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        response = api.client.post(
            "/api/sequences/import", data=BILLION_LAUGHS, headers=headers, content_type="text/yaml"
        )
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422
    assert "aliases" in response.json["error"]["message"]
    assert elapsed < 1.0 and peak < 5 * 2**20
    assert db.session.scalar(select(func.count()).select_from(Sequence)) == 0


def test_an_import_with_an_absurd_until_date_names_the_step_and_field(api: ApiClient) -> None:
    definition = onboarding_definition()
    definition["steps"][1]["config"] = {
        "until": "datetime",
        "at": "9999-12-31T23:59:59",
        "timezone": "America/New_York",
    }
    response = api.post("/api/sequences", json=definition)
    assert response.status_code == 422
    error = response.json["error"]
    assert (error["step"], error["field"]) == (definition["steps"][1]["id"], "config.at")


def test_an_enrollment_context_over_the_limit_is_refused(api: ApiClient) -> None:
    created = api.post(
        "/api/sequences", json={**onboarding_definition(), "trigger": {"type": "manual"}}
    )
    assert created.status_code == 201
    sequence_id = created.json["id"]
    assert api.post(f"/api/sequences/{sequence_id}/activate").status_code == 200
    api.post("/api/contacts", json=GOOD)
    body = {"contacts": [{"email": GOOD["email"]}], "context": {"big": "x" * (limits.CONTEXT + 1)}}
    refused(api.post(f"/api/sequences/{sequence_id}/enroll", json=body), "context")
