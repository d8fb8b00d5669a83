"""Published versions as the engine and the dispatcher read them, cached per process.

A version never changes once published, so (sequence id, number) is a key that never goes
stale; the cache only bounds memory (SNAPSHOT_CACHE_SIZE, least recently used first).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from sqlalchemy import select, tuple_

from app.extensions import db
from app.models import SequenceVersion

SNAPSHOT_CACHE_SIZE = 256
"""Versions kept in memory per process: one per sequence with runs on an older version."""

VersionKey = tuple[uuid.UUID, int]


@dataclass(frozen=True)
class Snapshot:
    """One published version: its definition (format v1) and the row id of each step."""

    sequence_id: uuid.UUID
    number: int
    definition: dict[str, Any]
    step_ids: dict[str, str]
    key_of: dict[str, str] = field(default_factory=dict)  # step row id -> step id

    @property
    def settings(self) -> dict[str, Any]:
        return self.definition.get("settings") or {}

    def step(self, row_id: uuid.UUID | str) -> dict[str, Any] | None:
        """The step (as in the definition) behind a step row id, if this version has it."""
        key = self.key_of.get(str(row_id))
        return next((s for s in self.definition.get("steps", []) if s["id"] == key), None)


_cache: OrderedDict[VersionKey, Snapshot] = OrderedDict()
_lock = Lock()


def load_snapshots(keys: Iterable[VersionKey]) -> dict[VersionKey, Snapshot]:
    """The versions asked for that exist; cached ones reused, the rest read in one query."""
    wanted = set(keys)
    found: dict[VersionKey, Snapshot] = {}
    with _lock:
        for key in wanted:
            if key in _cache:
                _cache.move_to_end(key)
                found[key] = _cache[key]
    missing = wanted - found.keys()
    if not missing:
        return found
    stmt = select(SequenceVersion).where(
        tuple_(SequenceVersion.sequence_id, SequenceVersion.number).in_(list(missing))
    )
    with _lock:
        for version in db.session.scalars(stmt):
            snapshot = Snapshot(
                version.sequence_id,
                version.number,
                version.definition,
                dict(version.step_ids),
                {row_id: key for key, row_id in version.step_ids.items()},
            )
            _cache[(version.sequence_id, version.number)] = snapshot
            found[(version.sequence_id, version.number)] = snapshot
        while len(_cache) > SNAPSHOT_CACHE_SIZE:
            _cache.popitem(last=False)
    return found
