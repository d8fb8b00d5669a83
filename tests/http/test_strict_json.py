"""JSON bodies: NaN, Infinity, numbers beyond a float and deep nesting are 400s naming the
problem, never 500s; the builder's JSON endpoints answer every refusal as JSON."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.extensions import db
from app.http.json_input import nesting_exceeds
from app.models import Contact, SequenceStep
from app.services import accounts, sequences
from tests.web.test_builder_graph import PASSWORD, Editor


@pytest.fixture
def canvas(app) -> Editor:
    """A signed-in builder tab on a blank sequence."""
    workspace = accounts.create_workspace("Acme")
    accounts.create_user("marketer@acme.test", workspace, PASSWORD)
    sequence = sequences.create_blank(workspace, "Onboarding", None)
    return Editor(app, "marketer@acme.test", sequence.id)


def send_raw(api, path: str, body: str):
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    return api.client.post(path, data=body, headers=headers)


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", "JSON numbers must be finite; NaN is not allowed"),
        ("Infinity", "JSON numbers must be finite; Infinity is not allowed"),
        ("-Infinity", "JSON numbers must be finite; -Infinity is not allowed"),
        ("1e309", "the JSON number 1e309 is too large"),
    ],
)
def test_non_finite_json_numbers_are_refused_with_400_naming_them(api, literal, message):
    body = f'{{"email": "a@example.com", "fields": {{"score": {literal}}}}}'
    answer = send_raw(api, "/api/contacts", body)
    assert answer.status_code == 400
    assert answer.json["error"]["message"] == message
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_json_nested_50000_levels_is_refused_at_once_without_recursing(api):
    body = '{"email": "a@example.com", "fields": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}"
    started = time.monotonic()
    answer = send_raw(api, "/api/events", body)
    assert answer.status_code == 400
    assert answer.json["error"]["message"] == "JSON is nested deeper than 64 levels"
    assert time.monotonic() - started < 1


def test_nesting_up_to_the_limit_reaches_the_view_and_brackets_in_strings_do_not_count(api):
    deep = "[" * 62 + "]" * 62  # 64 levels with the body and `fields` objects
    body = f'{{"email": "a@example.com", "fields": {{"x": {deep}}}}}'
    answer = send_raw(api, "/api/contacts", body)
    # Past the HTTP layer, the contact model's own, smaller limit answers, naming the field.
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == "fields.x"
    body = '{"email": "a@example.com", "fields": {"note": "[[[[{{{{' + "[" * 100 + '"}}'
    answer = send_raw(api, "/api/contacts", body)
    assert answer.status_code in {200, 201}, answer.json
    assert answer.json["fields"]["note"] == "[[[[{{{{" + "[" * 100


def test_malformed_json_is_a_400_that_says_where(api):
    answer = send_raw(api, "/api/contacts", '{"email": ')
    assert answer.status_code == 400
    assert answer.json["error"]["message"].startswith("the body is not valid JSON: Expecting value")


@pytest.mark.parametrize(
    "position",
    [{"x": 2**31, "y": 0}, {"x": 0, "y": -(2**40)}, {"x": "1e309", "y": 0}, {"x": "nan", "y": 1}],
)
def test_a_step_position_beyond_the_canvas_is_refused_with_422_json(canvas, position):
    answer = canvas.send("POST", "/steps", {"type": "email", "position": position})
    assert answer.status_code == 422
    assert answer.json["error"]["field"] == "position"
    assert db.session.scalar(select(func.count()).select_from(SequenceStep)) == 0


def test_a_json_position_of_1e309_on_the_canvas_is_a_400_json_answer(canvas):
    headers = {
        "X-CSRFToken": canvas.csrf,
        "X-Sequence-Version": str(canvas.version),
        "Content-Type": "application/json",
    }
    with canvas.web.app.app_context():
        answer = canvas.web.client.post(
            canvas.base + "/steps",
            data='{"type": "email", "position": {"x": 1e309, "y": 0}}',
            headers=headers,
        )
    assert answer.status_code == 400
    assert answer.json["error"]["message"] == "the JSON number 1e309 is too large"


@pytest.mark.parametrize("version", ["1e20", "100000000000000000000", "-1", "2147483648"])
def test_an_absurd_sequence_version_header_is_refused_with_400_json(canvas, version):
    headers = {"X-CSRFToken": canvas.csrf, "X-Sequence-Version": version}
    answer = canvas.web.send(
        "POST",
        canvas.base + "/steps",
        json={"type": "email", "position": {"x": 0, "y": 0}},
        headers=headers,
    )
    assert answer.status_code == 400
    assert answer.json["error"]["field"] == "version"
    assert "X-Sequence-Version must be" in answer.json["error"]["message"]


def depth_of(value: object) -> int:
    """Levels of arrays and objects, the outermost counting one."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


BRACKETED_TEXT = st.text(alphabet='[]{}"\\ ab', max_size=8)
DOCUMENTS = st.recursive(
    st.none() | st.integers() | BRACKETED_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(BRACKETED_TEXT, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(
    document=DOCUMENTS,
    limit=st.integers(min_value=0, max_value=8),
    indent=st.sampled_from([None, 1]),
)
def test_the_nesting_check_counts_the_levels_of_any_document_and_never_its_strings(
    document, limit, indent
):
    """With and without backslashes in the text (escaped quotes take the slower path), and
    with brackets and quotes inside the strings."""
    text = json.dumps(document, indent=indent)
    assert nesting_exceeds(text, limit) == (depth_of(document) > limit)
