"""`flask demo seed`: a demo workspace a newcomer can sign in to and watch run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from app.extensions import db
from app.models import User, Workspace
from app.services import accounts, contacts, segments, sequences

SEED_DATA = Path(__file__).parent / "seed_data"
ONBOARDING = SEED_DATA / "onboarding.yaml"
FAST_TRACK = SEED_DATA / "demo_fast_track.yaml"  # a draft, to open in the builder
DEMO_WORKSPACE = "Demo"
DEMO_EMAIL = "demo@penguinmails.test"
DEMO_PASSWORD = "penguin-demo"
DEMO_CONTACTS = (
    {"email": "ada@example.com", "first_name": "Ada", "timezone": "Europe/London"},
    {"email": "grace@example.com", "first_name": "Grace", "timezone": "America/New_York"},
    {"email": "kenji@example.com", "first_name": "Kenji", "timezone": "Asia/Tokyo"},
)


def seed_demo(now: datetime) -> tuple[Workspace, bool]:
    """Create the demo once; running it again changes nothing."""
    workspace = db.session.scalar(select(Workspace).where(Workspace.name == DEMO_WORKSPACE))
    if workspace is not None:
        return workspace, False
    workspace = accounts.create_workspace(DEMO_WORKSPACE)
    accounts.create_user(DEMO_EMAIL, workspace, DEMO_PASSWORD, name="Demo Marketer")
    definition = sequences.parse_input(ONBOARDING.read_text())
    sequence = sequences.create_sequence(workspace, definition)
    sequences.set_status(sequence, "activate", now)
    people = [contacts.upsert_contact(workspace, data)[0] for data in DEMO_CONTACTS]
    # Joining "New Signups" is the onboarding's trigger: the demo enrolls them that way.
    signups = segments.create_segment(workspace, "New Signups", "static", None, now)
    segments.add_members(signups, [person.id for person in people], now, source="demo")
    sequences.create_sequence(workspace, sequences.parse_input(FAST_TRACK.read_text()))
    return workspace, True


def register_demo_cli(app: Flask) -> None:
    @app.cli.group("demo")
    def demo() -> None:
        """The demo workspace."""

    @demo.command("seed")
    def seed() -> None:
        """Create the demo workspace, user and sequences (idempotent)."""
        workspace, created = seed_demo(datetime.now(UTC))
        click.echo(("Created" if created else "Kept") + f" the demo workspace {workspace.name!r}.")
        user = db.session.scalar(User.in_workspace(workspace.id, User.email == DEMO_EMAIL))
        if user is not None:
            base_url = current_app.config["BASE_URL"]
            click.echo(f"Sign in at {base_url} as {DEMO_EMAIL} / {DEMO_PASSWORD}")
