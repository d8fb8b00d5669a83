"""Turn a sequence's step and connection rows into the engine's graph, cached per version.

The cache is keyed by (sequence id, version) and holds at most GRAPH_CACHE_SIZE graphs, the
least recently used going first: every edit makes a new version, and the old ones are never
asked for again once the processor reads the new one.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any, NamedTuple, Protocol

from sqlalchemy import select

from app.core.engine import Graph, Step
from app.core.graph import entry_step_id
from app.core.variables import sequence_variables
from app.extensions import db
from app.models import Sequence, SequenceConnection, SequenceStep
from app.services.snapshots import Snapshot, VersionKey, load_snapshots


@dataclass(frozen=True)
class LoadedSequence:
    """What the processor needs of one sequence version."""

    id: uuid.UUID
    version: int
    graph: Graph
    timezone: str | None
    step_uuids: dict[str, uuid.UUID]  # the engine's string ids back to row ids, parsed once


GRAPH_CACHE_SIZE = 256
"""Sequence versions kept in memory per process; a tick needs one per running sequence."""

_cache: OrderedDict[tuple[uuid.UUID, int], LoadedSequence] = OrderedDict()
_cache_lock = Lock()


class _Node(NamedTuple):
    id: str


class _SnapshotStep(NamedTuple):
    id: uuid.UUID
    key: str
    type: str
    config: dict[str, Any]
    sort_order: int


class _SnapshotConnection(NamedTuple):
    source_step_id: uuid.UUID
    target_step_id: uuid.UUID
    condition_label: str | None


class _Edge(NamedTuple):
    source: str
    target: str
    label: str | None


class StepRow(Protocol):
    """A step as stored: a row of `sequence_steps` or a step of a published snapshot."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def key(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def sort_order(self) -> int: ...


class ConnectionRow(Protocol):
    @property
    def source_step_id(self) -> uuid.UUID: ...
    @property
    def target_step_id(self) -> uuid.UUID: ...
    @property
    def condition_label(self) -> str | None: ...


def build_graph(
    steps: Iterable[StepRow],
    connections: Iterable[ConnectionRow],
    exit_goals: Iterable[str] = (),
    sending_hours: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Graph:
    """The engine's view of stored rows; the entry step follows the format's rule.
    `exit_goals` are the goals whose conversion ends the enrollment (`exit.goals`);
    `settings` give the sequence's variables."""
    ordered = sorted(steps, key=lambda s: s.sort_order)
    edges = [
        _Edge(str(c.source_step_id), str(c.target_step_id), c.condition_label) for c in connections
    ]
    outgoing: dict[str, dict[str | None, str]] = {str(s.id): {} for s in ordered}
    for edge in edges:
        outgoing[edge.source][edge.label] = edge.target
    graph_steps = {
        str(s.id): Step(str(s.id), s.key, s.type, dict(s.config), outgoing[str(s.id)])
        for s in ordered
    }
    entry = entry_step_id([_Node(step_id) for step_id in graph_steps], edges)
    return Graph(
        entry_id=entry,
        steps=graph_steps,
        exit_goals=frozenset(exit_goals),
        sending_hours=sending_hours,
        variables=sequence_variables(settings),
    )


def load_sequences(versions: dict[uuid.UUID, int]) -> dict[uuid.UUID, LoadedSequence]:
    """Graphs for the given sequence versions: cached ones reused, the rest loaded in 2 queries."""
    found: dict[uuid.UUID, LoadedSequence] = {}
    missing = []
    with _cache_lock:
        for seq_id, version in versions.items():
            hit = _cache.get((seq_id, version))
            if hit:
                _cache.move_to_end((seq_id, version))
                found[seq_id] = hit
            else:
                missing.append(seq_id)
    if not missing:
        return found
    sequences = db.session.scalars(select(Sequence).where(Sequence.id.in_(missing))).all()
    steps = db.session.scalars(
        select(SequenceStep).where(
            SequenceStep.sequence_id.in_(missing), SequenceStep.retired_in.is_(None)
        )
    )
    conns = db.session.scalars(
        select(SequenceConnection).where(SequenceConnection.sequence_id.in_(missing))
    )
    steps_by_seq: dict[uuid.UUID, list[SequenceStep]] = {}
    for step in steps:
        steps_by_seq.setdefault(step.sequence_id, []).append(step)
    conns_by_seq: dict[uuid.UUID, list[SequenceConnection]] = {}
    for conn in conns:
        conns_by_seq.setdefault(conn.sequence_id, []).append(conn)
    with _cache_lock:
        for seq in sequences:
            loaded = LoadedSequence(
                seq.id,
                seq.version,
                build_graph(
                    steps_by_seq.get(seq.id, []),
                    conns_by_seq.get(seq.id, []),
                    (seq.exit_config or {}).get("goals") or (),
                    (seq.settings or {}).get("sending_hours"),
                    seq.settings,
                ),
                (seq.settings or {}).get("timezone"),
                {str(step.id): step.id for step in steps_by_seq.get(seq.id, [])},
            )
            _cache[(seq.id, seq.version)] = loaded
            found[seq.id] = loaded
        while len(_cache) > GRAPH_CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def load_versions(keys: Iterable[VersionKey]) -> dict[VersionKey, LoadedSequence]:
    """Graphs of published versions (for runs still on an older one), from their snapshots."""
    return {key: loaded_version(snap) for key, snap in load_snapshots(keys).items()}


def loaded_version(snapshot: Snapshot) -> LoadedSequence:
    """A published version as the engine runs it: the same row ids as the live graph, so a
    run moved between versions keeps its step, its visits and its step log keys."""
    definition = snapshot.definition
    ids = {key: uuid.UUID(row_id) for key, row_id in snapshot.step_ids.items()}
    steps = [
        _SnapshotStep(ids[spec["id"]], spec["id"], spec["type"], spec.get("config") or {}, order)
        for order, spec in enumerate(definition.get("steps", []))
    ]
    connections = [
        _SnapshotConnection(ids[c["source"]], ids[c["target"]], c.get("label"))
        for c in definition.get("connections", [])
    ]
    graph = build_graph(
        steps,
        connections,
        (definition.get("exit") or {}).get("goals") or (),
        (definition.get("settings") or {}).get("sending_hours"),
        definition.get("settings"),
    )
    return LoadedSequence(
        snapshot.sequence_id,
        snapshot.number,
        graph,
        (definition.get("settings") or {}).get("timezone"),
        {str(row_id): row_id for row_id in ids.values()},
    )
