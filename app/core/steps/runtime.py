"""The engine's side of a step kind: what `run(step, ctx)` reads and the verdict it returns.

A kind's `run` is pure: it reads the step (its typed config, parsed once per graph) and
the context of this pass, and says what happened; `core.engine.advance` applies the
verdict (logs the step, queues the email, records the conversion, applies the effect,
follows the label or stops).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from app.core import conditions

if TYPE_CHECKING:
    from app.core.engine import Position


@dataclass(frozen=True)
class Effect:
    """A change outside the enrollment that an action step asks for, in step order.

    action: add_tag (`tag`) | remove_tag (`tag`) | update_field (`field`, `value`; None
    clears the field) | move_to_sequence (`sequence`: a name in the same workspace).
    """

    action: str
    step_id: str
    tag: str | None = None
    field: str | None = None
    value: Any = None
    sequence: str | None = None


class Context(NamedTuple):
    """The pass as it reaches a step: the enrollment's position, the instant, when the
    contact arrived at this step (`since`: when its wait began, or now), the contact as
    earlier steps of this pass left it, the sequence's exit goals, whether the delay
    just before found its target already passed and asked to skip this email, and the
    sequence's sending hours.

    A named tuple, like `Verdict`: one of each is made per step, on the engine's hot path.
    """

    position: Position
    now: datetime
    since: datetime
    tags: frozenset[str]
    fields: Mapping[str, Any]
    exit_goals: frozenset[str]
    skip_email: bool = False
    sending_hours: Mapping[str, Any] | None = None  # the sequence's, for its emails
    emails_queued: int = 0  # by the earlier steps of this pass (frequency caps count them)

    def facts(self) -> conditions.Facts:
        """What a condition may read about the contact right now."""
        position = self.position
        return conditions.Facts(
            fields=self.fields,
            tags=self.tags,
            segments=position.segments,
            events=position.events,
            enrollment_id=position.enrollment_id,
            enrolled_at=position.enrolled_at,
            zone=position.zone,
        )


@dataclass(frozen=True)
class Pacing:
    """What a passed delay asks of the steps after it: the send window the following
    emails must still be inside, and whether to skip the email right after (too late)."""

    send_window: Mapping[str, Any] | None = None
    skip_next_email: bool = False


class Verdict(NamedTuple):
    """What one step did. Build it with `wait`, `go`, `end` or `fail`.

    Waiting (`outcome` None): the enrollment stays on the step until `next_at`. Otherwise the
    step is taken with `outcome` (its step log) and the run follows `label` (None: the one
    unlabelled next step), unless `finish` ends the enrollment (completed | exited |
    failed, with `reason`). A taken step may queue its email, record a goal's conversion,
    ask for an effect on the contact, ask for an outside call (`call`: the kind of call,
    recorded with the step and made by the call delivery job, e.g. "webhook"), or set the
    pacing of the steps after it. A queued email names its A/B `variant`, if any. A step
    that chose a path says why in `decision` (app/core/decisions.py), kept in its step log.
    """

    outcome: str | None = None
    label: str | None = None
    next_at: datetime | None = None
    finish: str | None = None
    reason: str | None = None
    email: bool = False
    goal: str | None = None
    effect: Effect | None = None
    call: str | None = None
    pacing: Pacing | None = None
    variant: str | None = None  # the A/B variant of the queued email
    decision: Mapping[str, Any] | None = None  # why this path: the values it saw

    @classmethod
    def wait(cls, until: datetime | None, reason: str | None = None) -> Verdict:
        """Stay on this step; look again at `until` (`reason`: why it is held, when it is
        not the step's own wait, e.g. a frequency cap)."""
        return cls(next_at=until, reason=reason)

    @classmethod
    def go(cls, outcome: str, label: str | None = None, **taken: Any) -> Verdict:
        """Take the step with `outcome` and follow `label`."""
        return cls(outcome=outcome, label=label, **taken)

    @classmethod
    def end(cls, outcome: str, status: str, reason: str | None = None, **taken: Any) -> Verdict:
        """Take the step with `outcome`; the enrollment ends here (completed | exited)."""
        return cls(outcome=outcome, finish=status, reason=reason, **taken)

    @classmethod
    def fail(cls, reason: str) -> Verdict:
        """The enrollment stops on this step, untaken, with the reason recorded."""
        return cls(finish="failed", reason=reason)

    @property
    def waiting(self) -> bool:
        return self.outcome is None and self.finish is None
