"""The processor's graph cache stays bounded however often a sequence is edited."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from app.extensions import db
from app.models import Sequence
from app.services import graphs
from app.services.graphs import GRAPH_CACHE_SIZE, load_sequences
from tests.helpers import onboarding_definition
from tests.sql_statements import statements_sent


def test_the_graph_cache_keeps_a_bounded_number_of_versions_and_the_ones_in_use(api):
    steady = uuid.UUID(api.post("/api/sequences", json=onboarding_definition()).json["id"])
    edited = uuid.UUID(api.post("/api/sequences", json=onboarding_definition()).json["id"])
    in_use = load_sequences({steady: 1})[steady]
    for version in range(1, GRAPH_CACHE_SIZE + 6):
        loaded = load_sequences({steady: 1, edited: version})
        assert loaded[steady] is in_use  # never evicted while it keeps being asked for
        assert loaded[edited].version == version
        db.session.execute(
            update(Sequence).where(Sequence.id == edited).values(version=version + 1)
        )
        db.session.commit()
    newest = GRAPH_CACHE_SIZE + 6
    load_sequences({edited: newest})

    assert len(graphs._cache) <= GRAPH_CACHE_SIZE
    with statements_sent() as sent:
        oldest = load_sequences({edited: 1})[edited]
    assert sent and oldest.version == newest  # evicted: read again, and the row is newer
    with statements_sent() as sent:
        current = load_sequences({steady: 1, edited: newest})
    assert sent == []  # the versions in use are served from memory
    assert current[edited].version == newest
    assert [step.key for step in current[edited].graph.steps.values()][:2] == ["email_1", "wait_2d"]
