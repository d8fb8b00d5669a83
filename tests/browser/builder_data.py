"""Sequences for the builder's browser tests, made through the services, and read back."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.core.format.parse import parse_definition
from app.extensions import db
from app.models import SequenceConnection, SequenceStep, Workspace
from app.services import accounts, sequences
from tests.browser.builder_page import EMAIL, PASSWORD


def builder_workspace(app: Flask) -> uuid.UUID:
    """A workspace with one marketer, who signs in through the form."""
    with app.app_context():
        workspace = accounts.create_workspace("Builders")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Bea Builder")
        return workspace.id


def email(step_id: str, name: str | None, x: int, y: int) -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": step_id,
        "type": "email",
        "config": {"subject": f"About {step_id}", "body": "<p>Hello</p>"},
        "position": {"x": x, "y": y},
    }
    if name is not None:
        step["name"] = name
    return step


def create(
    app: Flask, workspace_id: uuid.UUID, steps: list[dict[str, Any]], connections: list[Any]
) -> str:
    definition = {
        "format": "sequence/v1",
        "name": "Canvas test",
        "trigger": {"type": "manual"},
        "steps": steps,
        "connections": connections,
    }
    with app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        return str(sequences.create_sequence(workspace, parse_definition(definition)).id)


def stored_steps(app: Flask, sequence_id: str) -> dict[str, tuple[str, int | None, int | None]]:
    with app.app_context():
        rows = db.session.scalars(
            select(SequenceStep).where(SequenceStep.sequence_id == uuid.UUID(sequence_id))
        )
        return {row.key: (row.type, row.ui_position_x, row.ui_position_y) for row in rows}


def stored_links(app: Flask, sequence_id: str) -> set[tuple[str, str | None, str]]:
    with app.app_context():
        key_of = {
            row.id: row.key
            for row in db.session.scalars(
                select(SequenceStep).where(SequenceStep.sequence_id == uuid.UUID(sequence_id))
            )
        }
        rows = db.session.scalars(
            select(SequenceConnection).where(
                SequenceConnection.sequence_id == uuid.UUID(sequence_id)
            )
        )
        return {
            (key_of[row.source_step_id], row.condition_label, key_of[row.target_step_id])
            for row in rows
        }


def stored_step(app: Flask, sequence_id: str, key: str) -> tuple[str | None, dict[str, Any]]:
    """A step's name and config as stored."""
    with app.app_context():
        row = db.session.scalar(
            select(SequenceStep).where(
                SequenceStep.sequence_id == uuid.UUID(sequence_id), SequenceStep.key == key
            )
        )
        return row.name, dict(row.config)
