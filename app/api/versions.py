"""Published versions of a sequence: the list, one version's definition, a diff of two."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from app.api import ApiError, api_bp, owned
from app.http.numbers import INT32_MAX
from app.models import Sequence, SequenceVersion
from app.services import sequences as sequence_service
from app.services import versions as version_service
from app.services.publishing import MigrationNeeded


def version_summary(version: SequenceVersion) -> dict[str, Any]:
    return {
        "version": version.number,
        "published_at": version.published_at.isoformat(),
        "published_by": version.published_by,
        "note": version.note,
        "migration": version.plan,
    }


@api_bp.errorhandler(MigrationNeeded)
def _migration_needed(err: MigrationNeeded) -> tuple[Any, int]:
    """422 naming each removed step with contacts on it, and how many, before any change."""
    first = err.problems[0]
    waiting = [e for e in err.plan.removed if e.contacts]
    body = {
        "error": {
            "message": first.message,
            "field": first.field,
            "step": first.step,
            "problems": [
                {"message": p.message, "field": p.field, "step": p.step} for p in err.problems
            ],
            "removed_steps": [
                {"step": e.step, "name": e.name, "contacts": e.contacts, "choice": e.action}
                for e in waiting
            ],
        }
    }
    return jsonify(body), 422


def _sequence(sequence_id: str) -> Sequence:
    return owned(sequence_service.get_sequence, sequence_id, "sequence")


def _version(sequence: Sequence, raw: str) -> SequenceVersion:
    number = int(raw) if raw.isdigit() and len(raw) <= 10 else 0
    found = version_service.get_version(sequence, number) if 0 < number <= INT32_MAX else None
    if found is None:
        raise ApiError(404, f"no version {raw} of this sequence", "version")
    return found


@api_bp.get("/sequences/<sequence_id>/versions")
def list_versions(sequence_id: str) -> Any:
    sequence = _sequence(sequence_id)
    runs = version_service.runs_per_version(sequence)
    return jsonify(
        {
            "live": sequence.published_version,
            "versions": [
                {**version_summary(v), "runs": runs.get(v.number, {})}
                for v in version_service.list_versions(sequence)
            ],
        }
    )


@api_bp.get("/sequences/<sequence_id>/versions/<number>")
def get_version(sequence_id: str, number: str) -> Any:
    version = _version(_sequence(sequence_id), number)
    return jsonify({**version_summary(version), "definition": version.definition})


@api_bp.get("/sequences/<sequence_id>/versions/<a>/diff/<b>")
def diff_versions(sequence_id: str, a: str, b: str) -> Any:
    sequence = _sequence(sequence_id)
    old, new = _version(sequence, a), _version(sequence, b)
    diff = version_service.diff_versions(old, new)
    return jsonify({"from": old.number, "to": new.number, **diff.to_dict()})
