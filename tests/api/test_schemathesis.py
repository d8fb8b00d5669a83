"""schemathesis over every operation of the OpenAPI document, against the real app with a token.

For each operation it generates valid and invalid requests (a few dozen, deterministic) and
checks: no 5xx, only documented statuses and content types, every answer matches its schema,
and every 4xx is the JSON error body with `field`. Ids in paths are real objects of the
token's workspace, so the operations do their work instead of answering 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.openapi import build_document
from tests.conftest import ApiClient, Backend
from tests.helpers import onboarding_definition, tick

MAX_EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

schemathesis.serializer.alias("message/rfc822", "text/plain")
DEFINITION_BODIES = [  # the coverage phase takes minutes over the definition's schema
    "POST /api/sequences",
    "PATCH /api/sequences/{sequence_id}",
    "POST /api/sequences/import",
]
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "with-security-parameters": False,
        },
        "operations": [
            {"include-name": DEFINITION_BODIES, "phases": {"coverage": {"enabled": False}}}
        ],
    }
)
schema = schemathesis.openapi.from_dict(build_document(), config=CONFIG)


@pytest.fixture
def backend(sqlite_backend: Backend) -> Backend:
    """SQLite only: the operations are what is under test here, not the database."""
    return sqlite_backend


@pytest.fixture
def targets(app: Flask, api: ApiClient) -> dict[str, str]:
    """A real object of the token's workspace for each id in a path, made through the API
    (and one engine tick for the first email, an A/B test of variants A and B)."""
    definition = onboarding_definition()
    definition["steps"][0]["config"] |= {
        "variants": [{"key": "A", "weight": 1}, {"key": "B", "weight": 1, "subject": "B"}],
        "ab_test": {"metric": "open_rate"},
    }
    sequence = api.post("/api/sequences", json=definition).json["id"]
    assert api.post(f"/api/sequences/{sequence}/activate").status_code == 200
    contact = api.post("/api/contacts", json={"email": "ada@example.test"}).json["id"]
    enrolled = api.post(f"/api/sequences/{sequence}/enroll", json={"contact_ids": [contact]})
    assert enrolled.json["enrolled"] == 1, enrolled.json
    tick(app, datetime.now(UTC))
    enrollments = api.get(f"/api/sequences/{sequence}/enrollments").json["enrollments"]
    return {
        "sequence_id": sequence,
        "contact_id": contact,
        "enrollment_id": enrollments[0]["id"],
        "message_id": api.get("/api/messages").json["messages"][0]["id"],
        "key": "saas_trial",
        "step_id": definition["steps"][0]["id"],
        "number": "1",  # activation published version 1
        "a": "1",
        "b": "1",
    }


def assert_error_body(response: Any) -> None:
    """A 4xx is JSON `{"error": {"message", "field", "step"}}`."""
    if not 400 <= response.status_code < 500:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), (content_type, response.text)
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"], error
    assert "field" in error, error


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, app: Flask, api: ApiClient, targets):
    for name in case.path_parameters or {}:
        case.path_parameters[name] = targets[name]
    response = case.call(app=app, headers={"Authorization": f"Bearer {api.token}"})
    case.validate_response(response, checks=CHECKS)
    assert_error_body(response)
