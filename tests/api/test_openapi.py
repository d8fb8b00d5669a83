"""The OpenAPI document is public, valid OpenAPI 3.1, and kept true to the routes and the format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from app.api.openapi import EXAMPLE_DEFINITION
from app.core.format.parse import parse_definition
from tests.conftest import Backend, make_app
from tests.helpers import ONBOARDING, ROOT

METHODS = {"get", "post", "put", "patch", "delete"}
GALLERY = sorted((ROOT / "app" / "gallery").glob("*.yaml"))


@pytest.fixture(scope="module")
def document(sqlite_backend: Backend) -> dict[str, Any]:
    response = make_app(sqlite_backend).test_client().get("/api/openapi.json")
    assert response.status_code == 200, response.text
    return response.json


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route under /api: `<uuid:x>` becomes `{x}`."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            found |= {(path, method.lower()) for method in rule.methods or ()}
    return {(path, method) for path, method in found if method in METHODS}


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return Draft202012Validator(schema)


def test_the_document_is_served_without_a_token_and_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented_with_its_methods_and_nothing_else(document, sqlite_backend):
    routes = api_routes(make_app(sqlite_backend))
    assert routes - documented(document) == set(), "routes missing from app/api/openapi.py"
    assert documented(document) - routes == set(), "documented operations with no route"


def test_every_operation_but_the_document_needs_the_bearer_token(document):
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerToken": []}]
    for path, method in documented(document):
        operation = document["paths"][path][method]
        public = operation.get("security") == []
        assert public == (path == "/api/openapi.json"), (path, method)
        assert public or "401" in operation["responses"], (path, method)


def test_every_error_answer_is_the_shared_error_body(document):
    for path, method in documented(document):
        for status, response in document["paths"][path][method]["responses"].items():
            if status[0] in "45":
                assert response == {"$ref": f"#/components/responses/Error{status}"}, (path, status)
    for response in document["components"]["responses"].values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert {"message", "field", "step"} <= set(error["required"])


@pytest.mark.parametrize("path", [ONBOARDING, *GALLERY], ids=lambda p: Path(p).stem)
def test_the_shipped_definitions_match_the_documented_definition_schema(document, path):
    definition = yaml.safe_load(Path(path).read_text())
    errors = list(validator(document, "SequenceDefinition").iter_errors(definition))
    assert errors == [], [error.message for error in errors]


def test_a_misspelt_key_is_outside_the_documented_definition_schema(document):
    definition = yaml.safe_load(ONBOARDING.read_text()) | {"trigers": {"type": "manual"}}
    assert not validator(document, "SequenceDefinition").is_valid(definition)


def test_every_request_example_matches_its_schema_and_the_definition_parses(document):
    examples = [
        (media["schema"], media["example"])
        for item in document["paths"].values()
        for operation in item.values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if "example" in media
    ]
    assert len(examples) >= 6
    for schema, example in examples:
        checked = Draft202012Validator({**schema, "components": document["components"]})
        assert checked.is_valid(example), example
    parse_definition(EXAMPLE_DEFINITION)


def test_a_sequence_read_back_matches_the_documented_sequence_document(document, api):
    created = api.post("/api/sequences", json=yaml.safe_load(ONBOARDING.read_text()))
    assert created.status_code == 201, created.json
    read = api.get(f"/api/sequences/{created.json['id']}").json
    errors = list(validator(document, "SequenceDocument").iter_errors(read))
    assert errors == [], [error.message for error in errors]
