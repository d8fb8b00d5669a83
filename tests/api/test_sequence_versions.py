"""PATCH claims the sequence version like the builder does: one writer per version, and only
drafts are changed in place, published sequences get their next version."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from app.extensions import db
from app.models import Sequence
from app.services.sequences import archive_sequence
from tests.conftest import ApiClient
from tests.helpers import onboarding_definition

FIRST_WRITE = re.compile(r"\s*(UPDATE|INSERT INTO|DELETE FROM) sequence", re.IGNORECASE)


def one_step_definition() -> dict[str, Any]:
    """One email and no connections: the only row two writers both change is the sequence."""
    definition = onboarding_definition()
    definition["steps"] = definition["steps"][:1]
    definition["connections"] = []
    return definition


def test_two_concurrent_patches_on_the_same_version_save_one_and_refuse_the_other(app, api):
    seq = api.post("/api/sequences", json=one_step_definition()).json
    both_read = threading.Barrier(2, timeout=20)
    passed = threading.local()

    def hold_first_write(_conn, _cursor, statement, *_args) -> None:
        """Each request waits here before its first write, so both have read version 1."""
        if FIRST_WRITE.match(statement) and not getattr(passed, "barrier", False):
            passed.barrier = True
            both_read.wait()

    def patch(name: str) -> tuple[int, str, dict[str, Any]]:
        client = ApiClient(app.test_client(), api.token, api.workspace_id)
        answer = client.patch(f"/api/sequences/{seq['id']}", json={"name": name, "version": 1})
        return answer.status_code, name, answer.json

    event.listen(db.engine, "before_cursor_execute", hold_first_write)
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(patch, ["Tab A", "Tab B"]))
    finally:
        event.remove(db.engine, "before_cursor_execute", hold_first_write)

    (saved, winner, _), (refused, _, conflict) = answers
    assert (saved, refused) == (200, 409)
    assert conflict["error"]["field"] == "version"
    assert "since version 1 (now 2)" in conflict["error"]["message"]
    stored = db.session.execute(
        select(Sequence.version, Sequence.name).where(Sequence.id == uuid.UUID(seq["id"]))
    ).one()
    assert tuple(stored) == (2, winner)


def test_a_patch_of_a_live_sequence_publishes_its_next_version_on_the_version_read(api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post(f"/api/sequences/{seq_id}/activate")
    assert api.get(f"/api/sequences/{seq_id}").json["version"] == 1
    saved = api.patch(f"/api/sequences/{seq_id}", json={"name": "Live edit", "version": 1})
    assert saved.status_code == 200 and saved.json["version"] == 2
    assert saved.json["published"]["version"] == 2
    stale = api.patch(f"/api/sequences/{seq_id}", json={"name": "Stale edit", "version": 1})
    assert stale.status_code == 409 and stale.json["error"]["field"] == "version"
    assert "version 2 was published since you read version 1" in stale.json["error"]["message"]
    api.post(f"/api/sequences/{seq_id}/pause")
    paused = api.patch(f"/api/sequences/{seq_id}", json={"name": "Paused edit"})
    assert paused.status_code == 200 and paused.json["version"] == 3
    assert paused.json["status"] == "paused" and paused.json["name"] == "Paused edit"


def test_an_archived_sequence_is_not_patched(api):
    seq_id = api.post("/api/sequences", json=onboarding_definition()).json["id"]
    api.post(f"/api/sequences/{seq_id}/activate")
    api.post(f"/api/sequences/{seq_id}/pause")
    archive_sequence(db.session.get_one(Sequence, uuid.UUID(seq_id)), datetime.now(UTC))
    refused = api.patch(f"/api/sequences/{seq_id}", json={"name": "Too late"})
    assert refused.status_code == 409
    assert refused.json["error"]["message"] == "the sequence is archived: it is read-only"
    assert api.get(f"/api/sequences/{seq_id}").json["name"] == "New User Onboarding"


def test_a_version_that_is_not_an_integer_is_refused_naming_it(api):
    seq_id = api.post("/api/sequences", json=one_step_definition()).json["id"]
    for version in ("1", True, 1.0):
        answer = api.patch(f"/api/sequences/{seq_id}", json={"name": "X", "version": version})
        assert answer.status_code == 422, version
        assert answer.json["error"]["field"] == "version"
    assert api.get(f"/api/sequences/{seq_id}").json["name"] == "New User Onboarding"
