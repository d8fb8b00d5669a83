"""The canvas's JSON edits: each one lands in the step and connection tables at once,
stale editors get a conflict, impossible edits are refused with the step named."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core.layout import ROW_HEIGHT
from app.extensions import db
from app.models import Sequence, SequenceConnection, SequenceStep
from app.services import accounts, sequences
from tests.web.client import Web

PASSWORD = "correct-horse-battery"


class Editor:
    """A signed-in builder tab: sends edits with the version it last saw."""

    def __init__(self, app: Flask, email: str, sequence_id: uuid.UUID) -> None:
        self.web = Web(app)
        assert self.web.sign_in(email, PASSWORD).status_code == 302
        self.csrf = self.web.csrf_token("/sequences")
        self.base = f"/sequences/{sequence_id}/graph"
        self.version = self.web.send("GET", self.base).json["state"]["version"]

    def send(self, method: str, path: str = "", json: Any = None) -> Any:
        headers = {"X-CSRFToken": self.csrf, "X-Sequence-Version": str(self.version)}
        response = self.web.send(method, self.base + path, json=json or {}, headers=headers)
        if response.status_code < 300:
            self.version = response.json["state"]["version"]
        return response

    def add(self, step_type: str, x: int = 0, y: int = 0) -> str:
        response = self.send("POST", "/steps", {"type": step_type, "position": {"x": x, "y": y}})
        assert response.status_code == 201, response.json
        return response.json["step"]

    def connect(self, source: str, target: str, label: str | None = None) -> Any:
        return self.send(
            "POST", "/connections", {"source": source, "target": target, "label": label}
        )


@pytest.fixture
def blank(app: Flask) -> Sequence:
    workspace = accounts.create_workspace("Acme")
    accounts.create_user("marketer@acme.test", workspace, PASSWORD)
    return sequences.create_blank(workspace, "Onboarding", None)


@pytest.fixture
def editor(app: Flask, blank: Sequence) -> Editor:
    return Editor(app, "marketer@acme.test", blank.id)


def stored(app: Flask, sequence_id: uuid.UUID) -> tuple[dict[str, Any], set[tuple]]:
    """Steps by key (type, x, y) and connections (source, target, label) as stored."""
    with app.app_context():
        steps = db.session.scalars(
            select(SequenceStep).where(SequenceStep.sequence_id == sequence_id)
        )
        by_id = {s.id: s for s in steps}
        conns = db.session.scalars(
            select(SequenceConnection).where(SequenceConnection.sequence_id == sequence_id)
        )
        return (
            {s.key: (s.type, s.ui_position_x, s.ui_position_y) for s in by_id.values()},
            {
                (by_id[c.source_step_id].key, by_id[c.target_step_id].key, c.condition_label)
                for c in conns
            },
        )


def test_adding_moving_and_connecting_steps_writes_rows(app, blank, editor):
    first = editor.add("email", 40, 80)
    wait = editor.add("delay", 340, 80)
    assert (first, wait) == ("email_1", "delay_1")
    assert editor.connect(first, wait).status_code == 201
    moved = editor.send("PATCH", f"/steps/{wait}", {"position": {"x": 360.6, "y": 95}})
    assert moved.status_code == 200

    steps, conns = stored(app, blank.id)
    assert steps == {"email_1": ("email", 40, 80), "delay_1": ("delay", 361, 95)}
    assert conns == {("email_1", "delay_1", None)}
    state = editor.send("GET").json["state"]
    assert [s["outputs"] for s in state["steps"]] == [[None], [None]]
    assert {p["message"] for p in state["problems"] if p["step"] == "email_1"} == {
        "Write a subject for the email 'Email'",  # an unnamed step: its card's label
        "Write a body for the email 'Email'",
    }


def test_connection_rules_are_enforced_with_the_step_named(app, blank, editor):
    first, second, third = editor.add("email"), editor.add("email"), editor.add("email")
    branch = editor.add("branch")
    assert editor.connect(first, second).status_code == 201

    refusals = {
        "second output": editor.connect(first, third),
        "self loop": editor.connect(second, second),
        "missing port": editor.connect(branch, third, "maybe"),
        "unlabelled on branch": editor.connect(branch, third),
        "unknown step": editor.connect(first, "nope"),
    }
    for why, response in refusals.items():
        assert response.status_code == 422, why
        assert response.json["error"]["message"], why
    assert refusals["second output"].json["error"]["step"] == first
    assert "already leads to another step" in refusals["second output"].json["error"]["message"]
    assert "itself" in refusals["self loop"].json["error"]["message"]
    assert "'true', 'false'" in refusals["missing port"].json["error"]["message"]
    assert stored(app, blank.id)[1] == {(first, second, None)}

    assert editor.connect(branch, third, "true").status_code == 201
    removed = editor.send("DELETE", "/connections", {"source": first, "target": second})
    assert removed.status_code == 200
    assert stored(app, blank.id)[1] == {(branch, third, "true")}


def test_a_stale_tab_gets_a_conflict_and_changes_nothing(app, blank, editor):
    step = editor.add("email", 10, 10)
    other = Editor(app, "marketer@acme.test", blank.id)
    moved = other.send("PATCH", f"/steps/{step}", {"position": {"x": 500, "y": 500}})
    assert moved.status_code == 200

    response = editor.send("PATCH", f"/steps/{step}", {"position": {"x": 1, "y": 1}})

    assert response.status_code == 409
    assert "another tab" in response.json["error"]["message"]
    assert stored(app, blank.id)[0][step] == ("email", 500, 500)


def test_delete_a_middle_step_with_reconnect_and_undo_it(app, blank, editor):
    a, b, c = editor.add("email"), editor.add("delay"), editor.add("email")
    editor.connect(a, b)
    editor.connect(b, c)

    response = editor.send("DELETE", f"/steps/{b}", {"reconnect": True})

    assert response.status_code == 200
    steps, conns = stored(app, blank.id)
    assert set(steps) == {a, c}
    assert conns == {(a, c, None)}

    undo = editor.send("POST", "/restore", {"undo": response.json["undo"]})
    assert undo.status_code == 200, undo.json
    steps, conns = stored(app, blank.id)
    assert set(steps) == {a, b, c}
    assert conns == {(a, b, None), (b, c, None)}
    assert editor.send("POST", "/restore", {"undo": response.json["undo"]}).status_code == 422


def test_delete_without_reconnect_and_a_forged_undo(app, blank, editor):
    a, b = editor.add("email"), editor.add("email")
    editor.connect(a, b)
    response = editor.send("DELETE", f"/steps/{a}", {"reconnect": False})
    assert response.status_code == 200
    assert stored(app, blank.id) == ({b: ("email", 0, 0)}, set())
    forged = response.json["undo"][:-4] + "AAAA"
    assert editor.send("POST", "/restore", {"undo": forged}).status_code == 422


def test_renaming_a_split_path_drops_its_connection(app, blank, editor):
    from app.services import builder

    split, left, right = editor.add("split"), editor.add("email"), editor.add("email")
    editor.connect(split, left, "a")
    editor.connect(split, right, "b")
    with app.app_context():
        sequence = db.session.get(Sequence, blank.id)
        paths = [{"label": "a", "percent": 30}, {"label": "c", "percent": 70}]
        state = builder.update_step(
            sequence, split, name="Test", config={"paths": paths}, version=editor.version
        )
    assert state["steps"][0]["outputs"] == ["a", "c"]
    assert stored(app, blank.id)[1] == {(split, left, "a")}


def test_layout_places_every_step_and_the_page_lays_out_unplaced_graphs(app, blank, editor):
    a, b = editor.add("email", 0, 0), editor.add("email", 0, 0)
    editor.connect(a, b)
    state = editor.send("POST", "/layout").json["state"]
    positions = {s["id"]: (s["position"]["x"], s["position"]["y"]) for s in state["steps"]}
    assert positions[a][0] == positions[b][0] and positions[a][1] < positions[b][1]


def test_another_workspaces_sequence_is_not_found(app, blank):
    other = accounts.create_workspace("Rival")
    accounts.create_user("spy@rival.test", other, PASSWORD)
    spy = Web(app)
    spy.sign_in("spy@rival.test", PASSWORD)
    csrf = spy.csrf_token("/sequences")
    headers = {"X-CSRFToken": csrf, "X-Sequence-Version": "1"}
    base = f"/sequences/{blank.id}/graph"
    assert spy.send("GET", base).status_code == 404
    assert (
        spy.send(
            "POST", base + "/steps", {"type": "email", "position": {"x": 0, "y": 0}}, headers
        ).status_code
        == 404
    )
    assert stored(app, blank.id) == ({}, set())


def test_edits_need_the_csrf_token_and_a_version(app, blank):
    web = Web(app)
    web.sign_in("marketer@acme.test", PASSWORD)
    body = {"type": "email", "position": {"x": 0, "y": 0}}
    base = f"/sequences/{blank.id}/graph/steps"
    assert web.send("POST", base, body, {"X-Sequence-Version": "1"}).status_code == 400
    csrf = web.csrf_token("/sequences")
    missing = web.send("POST", base, body, {"X-CSRFToken": csrf})
    assert missing.status_code == 400
    assert missing.json["error"]["field"] == "version"
    assert stored(app, blank.id) == ({}, set())


@pytest.mark.parametrize("status", ["active", "paused"])
def test_a_published_sequence_cannot_be_edited_on_the_canvas(app, blank, editor, status):
    with app.app_context():
        db.session.execute(
            Sequence.__table__.update()
            .where(Sequence.id == blank.id)
            .values(status=status, published_version=1)
        )
        db.session.commit()
    response = editor.send("POST", "/steps", {"type": "email", "position": {"x": 0, "y": 0}})
    assert response.status_code == 422
    assert "edit a draft of the next version" in response.json["error"]["message"]


def test_a_step_inserted_on_a_connection_takes_its_place_and_pushes_the_rest_down(
    app, blank, editor
):
    first = editor.add("email", 60, 60)
    second = editor.add("email", 60, 210)
    aside = editor.add("email", 400, 60)
    editor.connect(first, second)
    response = editor.send(
        "POST", "/steps", {"type": "branch", "insert": {"source": first, "target": second}}
    )
    assert response.status_code == 201, response.json
    branch = response.json["step"]

    steps, conns = stored(app, blank.id)
    assert conns == {(first, branch, None), (branch, second, "true")}
    assert steps[branch] == ("branch", 60, 210)
    assert steps[second] == ("email", 60, 210 + ROW_HEIGHT)
    assert steps[first] == ("email", 60, 60) and steps[aside] == ("email", 400, 60)


def test_inserting_refuses_a_missing_connection_and_a_step_that_ends_the_flow(app, blank, editor):
    first, second = editor.add("email", 60, 60), editor.add("email", 60, 210)
    editor.connect(first, second)
    missing = editor.send(
        "POST", "/steps", {"type": "delay", "insert": {"source": second, "target": first}}
    )
    assert missing.status_code == 422
    assert missing.json["error"]["field"] == "insert"
    ending = editor.send(
        "POST", "/steps", {"type": "end", "insert": {"source": first, "target": second}}
    )
    assert ending.status_code == 422
    assert "cannot go between two steps" in ending.json["error"]["message"]
    malformed = editor.send("POST", "/steps", {"type": "delay", "insert": {"source": first}})
    assert malformed.status_code == 422
    assert malformed.json["error"]["field"] == "insert.source"
    assert stored(app, blank.id) == (
        {first: ("email", 60, 60), second: ("email", 60, 210)},
        {(first, second, None)},
    )
