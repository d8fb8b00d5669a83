"""Import and export over the API, and the template gallery as JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Sequence, SequenceConnection, SequenceStep
from app.services import accounts, gallery, sequences
from app.services.gallery import SHIPPED_ORDER
from tests.conftest import ApiClient, api_for
from tests.helpers import onboarding_definition

READ_ONLY = ("id", "name", "status", "version")


def send(api: ApiClient, path: str, **kwargs: Any) -> Any:
    """A POST with any body (text, multipart), with the workspace's token."""
    return api.client.post(path, headers={"Authorization": f"Bearer {api.token}"}, **kwargs)


def rows() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count(Sequence.id))),
        db.session.scalar(select(func.count(SequenceStep.id))),
        db.session.scalar(select(func.count(SequenceConnection.id))),
    )


def graph(document: dict[str, Any]) -> dict[str, Any]:
    """Everything but the name and the row's own id, status and version."""
    return {key: value for key, value in document.items() if key not in READ_ONLY}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_template_exports_and_imports_back_to_an_identical_definition(api, fmt):
    for key in SHIPPED_ORDER:
        created = api.post(f"/api/templates/{key}/use")
        assert created.status_code == 201, created.json
        exported = api.get(f"/api/sequences/{created.json['id']}/export?format={fmt}")
        assert exported.status_code == 200
        assert exported.mimetype == f"application/{fmt}"
        assert exported.headers["Content-Disposition"].startswith("attachment; filename=")
        loaded = yaml.safe_load(exported.text) if fmt == "yaml" else json.loads(exported.text)
        assert graph(loaded) == graph(created.json)
        assert loaded["name"] == created.json["name"]

        content_type = "application/yaml" if fmt == "yaml" else "application/json"
        imported = send(api, "/api/sequences/import", data=exported.data, content_type=content_type)
        assert imported.status_code == 201, imported.json
        assert imported.json["id"] != created.json["id"]
        assert imported.json["status"] == "draft"
        assert imported.json["name"] == f"{created.json['name']} (2)"
        again = api.get(f"/api/sequences/{imported.json['id']}/export?format={fmt}").text
        assert again.replace(" (2)", "", 1) == exported.text


def test_import_takes_a_multipart_file_or_raw_text_of_any_type(api):
    text = yaml.safe_dump(onboarding_definition(), sort_keys=False)
    upload = send(
        api,
        "/api/sequences/import",
        data={"file": (io.BytesIO(text.encode()), "onboarding.yml")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.json
    assert [s["id"] for s in upload.json["steps"]][:2] == ["email_1", "wait_2d"]
    # curl --data-binary sends a form content type; the body is still the definition.
    curl = send(
        api,
        "/api/sequences/import",
        data=text.encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert curl.status_code == 201, curl.json
    as_json = api.post("/api/sequences/import", json=onboarding_definition())
    assert as_json.status_code == 201
    assert graph(upload.json) == graph(curl.json) == graph(as_json.json)
    wrong_field = send(
        api,
        "/api/sequences/import",
        data={"definition": (io.BytesIO(text.encode()), "x.yml")},
        content_type="multipart/form-data",
    )
    assert wrong_field.status_code == 400 and wrong_field.json["error"]["field"] == "file"


def _broken_yaml(document: dict[str, Any]) -> str:
    return "name: [Onboarding\nsteps: {"


def _unknown_type(document: dict[str, Any]) -> dict[str, Any]:
    document["steps"][2]["type"] = "sms"
    return document


def _missing_target(document: dict[str, Any]) -> dict[str, Any]:
    document["connections"].append({"source": "email_3", "target": "ghost"})
    return document


def _bad_duration(document: dict[str, Any]) -> dict[str, Any]:
    document["steps"][1]["config"]["duration"] = "2 fortnights"
    return document


@pytest.mark.parametrize(
    ("breaks", "step", "field", "words"),
    [
        (_broken_yaml, None, None, "invalid YAML at line 2, column 6"),
        (_unknown_type, "email_2", "type", "unknown step type 'sms'"),
        (_missing_target, "email_3", "connections[4].target", "'ghost'"),
        (_bad_duration, "wait_2d", "config.duration", "'2 fortnights' is not a duration"),
    ],
    ids=["broken-yaml", "unknown-step-type", "missing-target", "bad-duration"],
)
def test_a_bad_import_answers_422_naming_step_and_field_and_creates_nothing(
    app: Flask, api: ApiClient, breaks: Any, step: str | None, field: str | None, words: str
):
    source = breaks(onboarding_definition())
    text = source if isinstance(source, str) else yaml.safe_dump(source, sort_keys=False)
    before = rows()
    for body in (
        {"data": text.encode(), "content_type": "application/yaml"},
        {
            "data": {"file": (io.BytesIO(text.encode()), "broken.yaml")},
            "content_type": "multipart/form-data",
        },
    ):
        refused = send(api, "/api/sequences/import", **body)
        assert refused.status_code == 422, refused.json
        error = refused.json["error"]
        assert (error["step"], error["field"]) == (step, field)
        assert words in error["message"]
        assert error["problems"][0] == {"message": error["message"], "field": field, "step": step}
    db.session.expire_all()
    assert rows() == before


def test_import_refuses_empty_bodies_and_other_file_types(api):
    empty = send(api, "/api/sequences/import", data=b"  \n", content_type="application/yaml")
    assert empty.status_code == 422 and empty.json["error"]["message"] == "the file is empty"
    other = send(
        api,
        "/api/sequences/import",
        data={"file": (io.BytesIO(b"name: x"), "notes.txt")},
        content_type="multipart/form-data",
    )
    assert other.status_code == 422 and other.json["error"]["field"] == "file"
    assert rows() == (0, 0, 0)


@pytest.mark.parametrize("text", ["- null\n- null\n", "[1, 2]"])
def test_an_import_that_is_no_mapping_answers_422_not_500(api, text):
    refused = send(api, "/api/sequences/import", data=text, content_type="application/yaml")
    assert refused.status_code == 422, refused.text
    assert "must be a mapping" in refused.json["error"]["message"]
    assert rows() == (0, 0, 0)


def test_export_checks_the_format_and_the_workspace(app, api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    bad = api.get(f"/api/sequences/{seq_id}/export?format=xml")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "format"
    other = api_for(app, "Globex")
    assert other.get(f"/api/sequences/{seq_id}/export?format=json").status_code == 404


def test_templates_list_shipped_then_the_workspaces_own_and_use_them(app, api):
    sequence = sequences.create_sequence(
        accounts.workspace_named("Acme"), sequences.parse_input(onboarding_definition())
    )
    saved = gallery.save_as_template(sequence, "Acme onboarding", None)
    listed = api.get("/api/templates").json["templates"]
    assert [t["key"] for t in listed[:5]] == list(SHIPPED_ORDER)
    assert {t["source"] for t in listed[:5]} == {"shipped"}
    ours = listed[-1]
    assert ours == {
        "key": str(saved.id),
        "name": "Acme onboarding",
        "description": "Welcome new signups and show them the product in their first week.",
        "source": "workspace",
        "steps": 5,
        "emails": 3,
        "email_names": [
            "Welcome & Getting Started",
            "Key Features Overview",
            "Pro Tips & Best Practices",
        ],
        "duration": "about 5 days",
    }
    assert all("svg" not in t for t in listed)

    used = api.post(f"/api/templates/{saved.id}/use")
    assert used.status_code == 201 and used.json["name"] == "Acme onboarding"
    assert used.json["steps"] == api.get(f"/api/sequences/{sequence.id}").json["steps"]
    assert api.post("/api/templates/nope/use").status_code == 404

    other = api_for(app, "Globex")
    assert str(saved.id) not in {t["key"] for t in other.get("/api/templates").json["templates"]}
    assert other.post(f"/api/templates/{saved.id}/use").status_code == 404


def test_what_get_answers_imports_back_as_a_file(api):
    created = api.post("/api/sequences", json=onboarding_definition()).json
    as_read = api.get(f"/api/sequences/{created['id']}").get_data()  # with id, status, version
    imported = send(api, "/api/sequences/import", data=as_read, content_type="application/json")
    assert imported.status_code == 201, imported.json
    assert graph(imported.json) == graph(created)
