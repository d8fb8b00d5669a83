"""The events API's one statement gets its events as one JSON document written out row by
row (`events_postgres._parameters`): each value must arrive exactly as validated."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import suppress
from datetime import UTC, datetime

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.services.events import EventError, parse_events
from app.services.events_postgres import _parameters, random_uuid_texts

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
TENANT, WORKSPACE = uuid.uuid4(), uuid.uuid4()
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
events = st.fixed_dictionaries(
    {
        "contact": st.one_of(
            st.builds(
                lambda local: {"email": f"{local}@Example.com"},
                st.from_regex(r"[a-zA-Z0-9]{1,12}", fullmatch=True),
            ),
            st.builds(lambda: {"id": str(uuid.uuid4())}),
        ),
        "event": st.text(min_size=1, max_size=64),
        "properties": st.dictionaries(st.text(), json_values, max_size=4),
    },
    optional={
        "id": st.text(min_size=1, max_size=40),
        "occurred_at": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        ).map(datetime.isoformat),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=1, max_size=6))
def test_every_event_s_values_reach_the_statement_as_they_were_validated(body):
    parsed = []
    for item in body:
        with suppress(EventError):  # a name or id the API refuses never reaches the statement
            parsed += parse_events(item, NOW)
    assume(parsed)
    params = _parameters(TENANT, WORKSPACE, parsed, list(range(len(parsed))), NOW)
    rows = json.loads(params["events"])
    assert [row["position"] for row in rows] == list(range(1, len(parsed) + 1))
    for row, event in zip(rows, parsed, strict=True):
        assert row["type"] == event.type
        assert row["properties"] == event.properties
        assert datetime.fromisoformat(row["occurred_at"]) == event.occurred_at
        assert row["email"] == event.email
        assert row["email_key"] == (event.email.lower() if event.email else None)
        assert row["contact_id"] == (str(event.contact_id) if event.contact_id else None)
        assert row["receipt_key"] == event.client_id
        assert row["receipt_hash"] == (event.payload_hash if event.client_id else None)
        assert (row["new_id"] is None) == (event.email is None)


def test_one_new_id_is_offered_per_address_however_it_is_spelled():
    body = [
        {"contact": {"email": "Ada@Example.com"}, "event": "a"},
        {"contact": {"email": "ada@example.COM"}, "event": "b"},
        {"contact": {"email": "bob@example.com"}, "event": "c"},
        {"contact": {"id": str(uuid.uuid4())}, "event": "d"},
    ]
    parsed = parse_events(body, NOW)
    rows = json.loads(_parameters(TENANT, WORKSPACE, parsed, [0, 1, 2, 3], NOW)["events"])
    assert rows[0]["new_id"] == rows[1]["new_id"] != rows[2]["new_id"]
    assert rows[3]["new_id"] is None
    assert all(UUID_TEXT.fullmatch(row["new_id"]) for row in rows[:3])


def test_random_ids_are_version_4_uuids_in_their_canonical_text_and_all_differ():
    ids = random_uuid_texts(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and UUID_TEXT.fullmatch(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert random_uuid_texts(0) == []
