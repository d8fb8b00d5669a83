"""A whole sequence definition: trigger, exit rules, goals, re-enrollment, settings, steps and
connections. The step list is built from the step-kind registry, so a new kind module is
a new step type here without an edit."""

from __future__ import annotations

import operator
from functools import partial, reduce
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from app.core import limits
from app.core.format.values import (
    BoundedJson,
    Description,
    DurationText,
    FieldError,
    Label,
    Model,
    NonBlank,
    OneLine,
    Properties,
    StepId,
    TimeZoneName,
    Window,
    email_address_value,
)
from app.core.format.variables import Variables
from app.core.steps import KINDS, StepKind

FORMAT = "sequence/v1"


class SegmentJoinTrigger(Model):
    type: Literal["segment_join"]
    segment: NonBlank


class FormSubmissionTrigger(Model):
    type: Literal["form_submission"]
    form: NonBlank


class ManualTrigger(Model):
    type: Literal["manual"] = "manual"


class ApiEventTrigger(Model):
    type: Literal["api_event"]
    event: NonBlank
    properties: Properties | None = None


Trigger = Annotated[
    SegmentJoinTrigger | FormSubmissionTrigger | ManualTrigger | ApiEventTrigger,
    Discriminator("type"),
]


class ExitRules(Model):
    on_reply: bool = False
    goals: list[NonBlank] = Field(default=[], max_length=limits.CHOICES)


class FieldChangeGoal(Model):
    type: Literal["field_change"]
    field: NonBlank
    equals: BoundedJson


class UrlVisitGoal(Model):
    type: Literal["url_visit"]
    url_contains: NonBlank


class CustomEventGoal(Model):
    type: Literal["custom_event"]
    event: NonBlank


class ExitGoalAction(Model):
    type: Literal["exit"] = "exit"


class MoveGoalAction(Model):
    type: Literal["move_to_sequence"]
    sequence: NonBlank


class Goal(Model):
    name: NonBlank
    when: Annotated[FieldChangeGoal | UrlVisitGoal | CustomEventGoal, Discriminator("type")]
    action: Annotated[ExitGoalAction | MoveGoalAction, Discriminator("type")] = Field(
        default_factory=ExitGoalAction
    )


class ReEnrollment(Model):
    mode: Literal["never", "always", "after_delay"] = "never"
    delay: DurationText | None = None
    max_times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _delay_matches_mode(self) -> ReEnrollment:
        if self.mode == "after_delay" and self.delay is None:
            raise FieldError("delay", "mode 'after_delay' needs a 'delay', such as '90 days'")
        if self.mode != "after_delay" and self.delay is not None:
            raise FieldError("delay", "a 'delay' only applies to mode 'after_delay'")
        if self.mode == "never" and self.max_times is not None:
            raise FieldError("max_times", "'max_times' does not apply to mode 'never'")
        return self


class Settings(Model):
    timezone: TimeZoneName = "UTC"
    from_email: Annotated[str, AfterValidator(email_address_value)] | None = None
    from_name: OneLine | None = None
    sending_hours: Window | None = None
    """When any email of the sequence may go (the first one too), in the recipient's zone
    by default: an email due outside them waits for the next opening."""
    reply_to: Annotated[str, AfterValidator(email_address_value)] | None = None
    """Where replies go (e.g. a connected inbox), when not the From address."""
    on_send_failure: Literal["fail", "skip"] | None = None
    """A permanent send failure (5xx, invalid address, a template refused) ends the
    enrollment as failed with the reason ("fail", the default), or skips that email and
    goes on ("skip")."""
    holdout_percent: int | None = Field(default=None, ge=0, le=50)
    """The share of enrollments, drawn per run, that receive no email (the control group)."""
    open_tracking: bool | None = None
    """Add the open pixel to HTML emails (None: on). Off suits one-to-one outreach, where a
    remote image in a short email reads as bulk mail to filters."""
    while_paused: Literal["queue", "refuse"] | None = None
    """What becomes of contacts who meet the trigger while the sequence is paused (chosen
    when pausing): "queue" enrolls them at once and they start when it resumes; "refuse"
    (the default) leaves them out, each refusal counted and shown in the checklist."""
    variables: Variables | None = None
    """Sequence-level values (`{{ sequence.<name> }}`, `until: field` with `field:
    sequence.<name>`); see format/variables.py."""


Coordinate = Annotated[int, Field(gt=-limits.POSITION, lt=limits.POSITION)]


class Position(Model):
    x: Coordinate
    y: Coordinate


# --- Steps ----------------------------------------------------------------------------------


class StepModel(Model):
    """Fields shared by every step; each kind's model pins `type` and its `config` model."""

    id: StepId
    type: str
    name: OneLine | None = None
    config: Any
    position: Position | None = None

    def config_dict(self) -> dict[str, Any]:
        """The config as stored in `sequence_steps.config` and exported."""
        return self.config.model_dump(mode="json")


def _step_model(kind: StepKind) -> type[StepModel]:
    """`EmailStep`, `WaitUntilStep`, ...: a step of one kind; its config may be left out
    when the kind's config model accepts an empty one (an end step)."""
    name = "".join(part.capitalize() for part in kind.type.split("_")) + "Step"
    try:
        kind.config_adapter.validate_python({})
    except ValidationError:
        config: Any = (kind.config_model, ...)
    else:
        config = (kind.config_model, Field(default_factory=partial(_empty_config, kind)))
    return create_model(
        name, __base__=StepModel, __module__=__name__, type=(Literal[kind.type], ...), config=config
    )


def _empty_config(kind: StepKind) -> Any:
    return kind.config_adapter.validate_python({})


STEP_MODELS: dict[str, type[StepModel]] = {kind.type: _step_model(kind) for kind in KINDS.values()}
"""The step model of each kind, by type, in palette order."""
Step = Annotated[reduce(operator.or_, STEP_MODELS.values()), Discriminator("type")]


class Connection(Model):
    source: NonBlank
    target: NonBlank
    label: Label | None = None


class SequenceDefinition(Model):
    """A whole sequence; graph rules are checked by `parse_definition`, not by the model,
    so an unfinished canvas can still be held (and saved as a draft) in this shape."""

    format: Literal["sequence/v1"] = FORMAT
    name: NonBlank
    description: Description | None = None
    trigger: Trigger = Field(default_factory=ManualTrigger)
    exit: ExitRules = Field(default_factory=ExitRules)
    goals: list[Goal] = Field(default=[], max_length=limits.CHOICES)
    re_enrollment: ReEnrollment = Field(default_factory=ReEnrollment)
    settings: Settings = Field(default_factory=Settings)
    steps: list[Step] = Field(default=[], max_length=limits.STEPS)
    connections: list[Connection] = Field(default=[], max_length=limits.CONNECTIONS)
