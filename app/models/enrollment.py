"""Enrollments (a contact's run through a sequence) and the once-only log of steps taken."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Insert,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    insert,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamped, WorkspaceOwned, utcnow
from app.models.indexes import trigram_indexes
from app.models.types import JsonDoc, UTCDateTime, json_column, uuid_pk

ENROLLMENT_STATUSES = ("active", "completed", "exited", "paused", "failed")


class ContactSequence(WorkspaceOwned, Timestamped, db.Model):
    """One contact's position in one sequence.

    `visits` counts how often each step has run for this enrollment; it is the rotation that
    makes a step's log key unique, so a loop or a re-enrollment never records a step twice.
    """

    __tablename__ = "contact_sequences"
    __table_args__ = (
        UniqueConstraint("sequence_id", "contact_id"),
        Index("idx_contact_sequences_execution", "status", "next_execution_at"),
        # The enrollments list (services/enrollment_query.py) pages newest first by
        # (enrolled_at, id); a filter either reads that order and skips what does not match,
        # or looks its rows up by one of these and sorts them. Ended runs and exit reasons are
        # indexed only once ended, so the processor's updates of live runs skip them.
        Index("ix_contact_sequences_list", "workspace_id", "enrolled_at", "id"),
        Index("ix_contact_sequences_list_step", "current_step_id", "enrolled_at", "id"),
        Index(
            "ix_contact_sequences_list_finished",
            "workspace_id",
            "finished_at",
            postgresql_where=text("finished_at IS NOT NULL"),
            sqlite_where=text("finished_at IS NOT NULL"),
        ),
        *trigram_indexes("contact_sequences", "enroll_reason"),
        *trigram_indexes("contact_sequences", "exit_reason", where="exit_reason IS NOT NULL"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # No index of its own: ix_contact_sequences_list leads with it, and every index costs
    # the processor an entry per advance (each one rewrites the row).
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sequences.id", ondelete="CASCADE")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(50), default="active")
    current_step_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("sequence_steps.id", ondelete="SET NULL")
    )
    step_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_step_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_execution_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    context_data: Mapped[dict[str, Any]] = json_column({})
    visits: Mapped[dict[str, int]] = json_column({})
    enroll_reason: Mapped[str | None] = mapped_column(String(255))
    exit_reason: Mapped[str | None] = mapped_column(Text)
    # Which run this is: a re-enrollment archives the finished run in `enrollment_runs` and
    # reuses this row, so UNIQUE(sequence_id, contact_id) holds and `visits` keeps counting.
    runs: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # This run's number among the sequence's runs, in enrollment order: its holdout group
    # and A/B variants are drawn from it (app/core/experiments.py); None before draws existed.
    draw: Mapped[int | None] = mapped_column(Integer)
    # In the sequence's holdout group for this run (drawn at enrollment): no email is sent.
    holdout: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The published sequence version this run follows (sequence_versions.number); a publish
    # moves runs on the live version to the new one unless its plan says to finish on it.
    version: Mapped[int | None] = mapped_column(Integer)
    # Why its next email is held back for now (a frequency cap, a sender's daily limit).
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # An operator skipped the wait it is on: the next pass ends that wait at once.
    skip_wait: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


def exited(reason: str | None, now: datetime, status: str = "exited") -> dict[str, Any]:
    """The columns every early end of an enrollment writes (goal, removal, suppression);
    `failed` for an end by a delivery failure (a hard bounce)."""
    return {
        "status": status,
        "exit_reason": reason,
        "finished_at": now,
        "next_execution_at": None,
        "updated_at": now,
    }


class EnrollmentRun(WorkspaceOwned, db.Model):
    """A finished earlier run of an enrollment, archived when the contact was re-enrolled."""

    __tablename__ = "enrollment_runs"
    __table_args__ = (UniqueConstraint("enrollment_id", "run"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    run: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(50))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enroll_reason: Mapped[str | None] = mapped_column(String(255))
    exit_reason: Mapped[str | None] = mapped_column(Text)


class Conversion(WorkspaceOwned, db.Model):
    """A goal an enrollment reached, once per run, with the step the contact was on."""

    __tablename__ = "conversions"
    __table_args__ = (UniqueConstraint("enrollment_id", "run", "goal"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    run: Mapped[int] = mapped_column(Integer)
    goal: Mapped[str] = mapped_column(String(255))
    step_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # where the contact was
    source: Mapped[str] = mapped_column(String(16))  # goal_step | event | monitor
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    converted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StepLog(WorkspaceOwned, db.Model):
    """Each step an enrollment takes, recorded exactly once (Mautic's unique event log)."""

    __tablename__ = "sequence_step_logs"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_id", "rotation"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE")
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    step_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    rotation: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    variant: Mapped[str | None] = mapped_column(String(32))  # an email's A/B variant
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EnrollmentChange(WorkspaceOwned, db.Model):
    """Something done to an enrollment from outside its own run (a version migration), kept
    as its history: who, when, what, from where to where."""

    __tablename__ = "enrollment_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    enrollment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("contact_sequences.id", ondelete="CASCADE"), index=True
    )
    sequence_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[str] = mapped_column(String(32))  # version_migration | intervention
    # version_migration: keep | retime | move | exit | stay;
    # intervention: pause | resume | skip_wait | move | exit | resend
    action: Mapped[str] = mapped_column(String(16))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    from_step: Mapped[str | None] = mapped_column(String(64))  # step ids (keys)
    to_step: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def record_changes(rows: Select[Any]) -> Insert:
    """An INSERT ... SELECT of history, one row per row of `rows`, whose columns are labelled
    with the history's own names (`enrollment_id`, `from_version`, ...): each value is named
    where it is chosen, not by its place in a list kept apart from it."""
    return insert(EnrollmentChange).from_select(list(rows.selected_columns.keys()), rows)
