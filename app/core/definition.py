"""The sequence definition format v1 (see shared/spec/sequence-format.md).

One format serves the API, import/export files, templates and published snapshots,
so parsing is strict (unknown keys are errors) and every problem is reported with
the step and field it concerns, in words an author can act on.
"""

import difflib
import html
import json
import re
from datetime import datetime, time
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    model_serializer,
    model_validator,
)

from app.core import limits, safe_yaml
from app.core.addresses import AddressError, normalise_address
from app.core.durations import parse_duration, parse_signed_duration
from app.core.graph import Problem, validate_graph
from app.core.steps import STEP_TYPES
from app.core.steps.webhook import WebhookConfig
from app.core.text_rules import multi_line, single_line

FORMAT = "sequence/v1"
_STEP_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_KNOWN_KEYS: set[str] = set()
"""Every key of the format, to suggest the intended one when a key is misspelt."""


class DefinitionError(Exception):
    """A definition that cannot be used, with every problem found (most relevant first)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems

    @property
    def first(self) -> Problem:
        return self.problems[0]


class _FieldError(ValueError):
    """A model-level check that blames one field, so the problem points at that key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- Scalar values -----------------------------------------------------------------------


def parse_clock_time(text: str) -> time:
    """A local time of day written "09:00" (or "9:00")."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{text!r} is not a time of day such as '09:00'")
    return time(int(match[1]), int(match[2]))


def _non_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _step_id(text: str) -> str:
    if _STEP_ID.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not a valid step id; use 1 to 64 letters, digits, '_' or '-'"
        )
    return text


def _duration(text: str) -> str:
    parse_duration(text)
    return text


def _offset(text: str) -> str:
    parse_signed_duration(text)
    return text


def _clock(text: str) -> str:
    parse_clock_time(text)
    return text


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA time zone such as 'Europe/Paris' or 'UTC'"
        ) from None
    return name


def _zone_choice(name: str) -> str:
    return name if name == "recipient" else _time_zone(name)


def _iso_datetime(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date and time such as '2026-12-01T09:00:00'"
        ) from None
    if not limits.YEAR_MIN <= moment.year <= limits.YEAR_MAX:
        raise ValueError(
            f"{text!r} is out of range; the year must be {limits.YEAR_MIN} to {limits.YEAR_MAX}"
        )
    return text


def _email_address(text: str) -> str:
    try:
        return normalise_address(text)
    except AddressError as exc:
        raise ValueError(str(exc)) from None


def _bounded_json(value: Any) -> Any:
    problem = limits.json_size_problem(value, limits.FIELD_VALUE)
    if problem is not None:
        raise ValueError(f"the value {problem}")
    return value


def _bounded_properties(value: Any) -> Any:
    problem = limits.json_size_problem(value, limits.CONTEXT)
    if problem is not None:
        raise ValueError(f"the properties {problem}")
    return value


def _bool_label(value: Any) -> Any:
    """YAML reads an unquoted `label: true` as a boolean; the branch path is the text."""
    return str(value).lower() if isinstance(value, bool) else value


OneLine = Annotated[str, Field(max_length=limits.NAME), AfterValidator(single_line)]
"""A name-like value: one line (it may reach a mail header), at most NAME characters."""
NonBlank = Annotated[OneLine, AfterValidator(_non_blank)]
Subject = Annotated[str, Field(max_length=limits.SUBJECT), AfterValidator(single_line)]
Body = Annotated[str, Field(max_length=limits.BODY), AfterValidator(multi_line)]
Description = Annotated[str, Field(max_length=limits.DESCRIPTION), AfterValidator(multi_line)]
BoundedJson = Annotated[JsonValue, AfterValidator(_bounded_json)]
"""A value compared with or stored in a contact field: at most FIELD_VALUE characters."""
Properties = Annotated[dict[str, JsonValue], AfterValidator(_bounded_properties)]
StepId = Annotated[str, AfterValidator(_step_id)]
DurationText = Annotated[str, AfterValidator(_duration)]
"""A duration kept exactly as written, so exports show what the author typed."""
OffsetText = Annotated[str, AfterValidator(_offset)]
ClockTime = Annotated[str, AfterValidator(_clock)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
ZoneChoice = Annotated[str, AfterValidator(_zone_choice)]
"""`recipient` (the contact's own zone, else the sequence's) or an IANA zone name."""
Label = Annotated[
    str,
    Field(max_length=50),
    BeforeValidator(_bool_label),
    AfterValidator(single_line),
    AfterValidator(_non_blank),
]
"""Labels are stored in `sequence_connections.condition_label`, a VARCHAR(50)."""
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ShortWeekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EmailEvent = Literal["opened", "clicked_link", "replied", "bounced"]
EMAIL_EVENTS: tuple[str, ...] = get_args(EmailEvent)


class _Model(BaseModel):
    """Strict base: unknown keys are errors and exports omit optional keys left out."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, serialize_by_alias=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _KNOWN_KEYS.update(field.alias or name for name, field in cls.model_fields.items())

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Drop optional keys that are None; keep required ones (`value: null` clears a field)."""
        data = handler(self)
        absent = {
            field.alias or name
            for name, field in type(self).model_fields.items()
            if not field.is_required() and field.default is None
        }
        return {key: value for key, value in data.items() if not (value is None and key in absent)}


# --- Top-level settings --------------------------------------------------------------------


class SegmentJoinTrigger(_Model):
    type: Literal["segment_join"]
    segment: NonBlank


class FormSubmissionTrigger(_Model):
    type: Literal["form_submission"]
    form: NonBlank


class ManualTrigger(_Model):
    type: Literal["manual"] = "manual"


class ApiEventTrigger(_Model):
    type: Literal["api_event"]
    event: NonBlank
    properties: Properties | None = None


Trigger = Annotated[
    SegmentJoinTrigger | FormSubmissionTrigger | ManualTrigger | ApiEventTrigger,
    Discriminator("type"),
]


class ExitRules(_Model):
    on_reply: bool = False
    goals: list[NonBlank] = Field(default=[], max_length=limits.CHOICES)


class FieldChangeGoal(_Model):
    type: Literal["field_change"]
    field: NonBlank
    equals: BoundedJson


class UrlVisitGoal(_Model):
    type: Literal["url_visit"]
    url_contains: NonBlank


class CustomEventGoal(_Model):
    type: Literal["custom_event"]
    event: NonBlank


class ExitGoalAction(_Model):
    type: Literal["exit"] = "exit"


class MoveGoalAction(_Model):
    type: Literal["move_to_sequence"]
    sequence: NonBlank


class Goal(_Model):
    name: NonBlank
    when: Annotated[FieldChangeGoal | UrlVisitGoal | CustomEventGoal, Discriminator("type")]
    action: Annotated[ExitGoalAction | MoveGoalAction, Discriminator("type")] = Field(
        default_factory=ExitGoalAction
    )


class ReEnrollment(_Model):
    mode: Literal["never", "always", "after_delay"] = "never"
    delay: DurationText | None = None
    max_times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _delay_matches_mode(self) -> "ReEnrollment":
        if self.mode == "after_delay" and self.delay is None:
            raise _FieldError("delay", "mode 'after_delay' needs a 'delay', such as '90 days'")
        if self.mode != "after_delay" and self.delay is not None:
            raise _FieldError("delay", "a 'delay' only applies to mode 'after_delay'")
        if self.mode == "never" and self.max_times is not None:
            raise _FieldError("max_times", "'max_times' does not apply to mode 'never'")
        return self


class Settings(_Model):
    timezone: TimeZoneName = "UTC"
    from_email: Annotated[str, AfterValidator(_email_address)] | None = None
    from_name: OneLine | None = None


Coordinate = Annotated[int, Field(gt=-limits.POSITION, lt=limits.POSITION)]


class Position(_Model):
    x: Coordinate
    y: Coordinate


# --- Branch conditions ---------------------------------------------------------------------


class EmailEventCondition(_Model):
    type: Literal["email_event"]
    email_step_id: NonBlank
    event: EmailEvent
    link_url_contains: NonBlank | None = None
    lookback_window: DurationText | None = None

    @model_validator(mode="after")
    def _link_needs_click(self) -> "EmailEventCondition":
        _check_link_filter(self.event, self.link_url_contains)
        return self


class EventCondition(_Model):
    type: Literal["event"]
    event: NonBlank
    lookback_window: DurationText | None = None
    properties: Properties | None = None


class FieldCondition(_Model):
    type: Literal["field"]
    field: NonBlank
    op: Literal["eq", "neq", "gt", "gte", "lt", "lte", "contains", "exists"]
    value: BoundedJson = None

    @model_validator(mode="after")
    def _value_matches_op(self) -> "FieldCondition":
        if self.op == "exists" and self.value is not None:
            raise _FieldError("value", "op 'exists' takes no 'value'")
        if self.op != "exists" and self.value is None:
            raise _FieldError("value", f"op {self.op!r} needs a 'value' to compare with")
        return self


class SegmentCondition(_Model):
    type: Literal["segment"]
    segment: NonBlank


class TagCondition(_Model):
    type: Literal["tag"]
    tag: NonBlank


class AllConditions(_Model):
    all: list["Condition"] = Field(min_length=1)


class AnyConditions(_Model):
    any: list["Condition"] = Field(min_length=1)


class NotCondition(_Model):
    not_: "Condition" = Field(alias="not")


_COMBINATORS = {"all": "all_of", "any": "any_of", "not": "none_of"}
"""Tags for combinators; distinct from any key so error locations stay unambiguous."""


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, dict):
        return None
    if "type" in value:
        return value["type"]
    return next((tag for key, tag in _COMBINATORS.items() if key in value), None)


Condition = Annotated[
    Annotated[EmailEventCondition, Tag("email_event")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[FieldCondition, Tag("field")]
    | Annotated[SegmentCondition, Tag("segment")]
    | Annotated[TagCondition, Tag("tag")]
    | Annotated[AllConditions, Tag("all_of")]
    | Annotated[AnyConditions, Tag("any_of")]
    | Annotated[NotCondition, Tag("none_of")],
    Discriminator(_condition_kind, custom_error_type="condition_kind", custom_error_message="-"),
]

for _combinator in (AllConditions, AnyConditions, NotCondition):
    _combinator.model_rebuild()


def _check_link_filter(event: str, link_url_contains: str | None) -> None:
    if link_url_contains is not None and event != "clicked_link":
        raise _FieldError("link_url_contains", "'link_url_contains' only applies to 'clicked_link'")


# --- Step configs --------------------------------------------------------------------------


_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_URL_IGNORED = re.compile(r"[\x00-\x20\x7f]")  # browsers drop these when reading a scheme


def _check_link_schemes(body: str | None) -> None:
    """Refuse links a mail client would run or inline (javascript:, data:, ...): only http,
    https and mailto; relative links, anchors and `{{ ... }}` placeholders are left alone."""
    for match in _HREF.finditer(body or ""):
        raw = next(value for value in match.groups() if value is not None)
        url = _URL_IGNORED.sub("", html.unescape(raw))
        scheme = _URL_SCHEME.match(url)
        if scheme is not None and scheme.group(1).lower() not in _LINK_SCHEMES:
            raise _FieldError(
                "body",
                f"the link scheme '{scheme.group(1).lower()}:' is not allowed in the body; "
                "links must start with http://, https:// or mailto:",
            )


class Variant(_Model):
    key: NonBlank
    weight: int = Field(gt=0)
    subject: Subject | None = None
    body: Body | None = None
    text: Body | None = None

    @model_validator(mode="after")
    def _safe_links(self) -> "Variant":
        _check_link_schemes(self.body)
        return self


class AbTest(_Model):
    metric: Literal["open_rate", "click_rate", "reply_rate"]
    pick_winner_after: int | None = Field(default=None, ge=1)


class EmailConfig(_Model):
    """Subject and body must be present but may be empty: drafts are saved while being written."""

    type: Literal["email"] | None = None
    subject: Subject
    body: Body
    text: Body | None = None
    from_name: OneLine | None = None
    variants: Annotated[list[Variant], Field(max_length=limits.VARIANTS)] | None = None
    ab_test: AbTest | None = None

    @model_validator(mode="after")
    def _variants_make_sense(self) -> "EmailConfig":
        variants = self.variants or []
        if variants and len(variants) < 2:
            raise _FieldError("variants", "A/B testing needs at least two variants")
        keys = [variant.key for variant in variants]
        duplicate = next((key for key in keys if keys.count(key) > 1), None)
        if duplicate is not None:
            raise _FieldError("variants", f"variant key {duplicate!r} is used more than once")
        if self.ab_test is not None and not variants:
            raise _FieldError("ab_test", "'ab_test' needs 'variants' to compare")
        return self

    @model_validator(mode="after")
    def _safe_links(self) -> "EmailConfig":
        _check_link_schemes(self.body)
        return self


class Window(_Model):
    """Hours in which the contact may move on after a delay; every day when `weekdays` is
    left out. Overnight windows (end before start) are not supported."""

    weekdays: list[ShortWeekday] = Field(
        default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], min_length=1
    )
    start: ClockTime
    end: ClockTime
    timezone: ZoneChoice = "recipient"

    @model_validator(mode="after")
    def _window_is_open(self) -> "Window":
        if len(set(self.weekdays)) != len(self.weekdays):
            raise _FieldError("weekdays", "each weekday may appear only once")
        if parse_clock_time(self.start) >= parse_clock_time(self.end):
            raise _FieldError("end", f"end {self.end!r} must be later than start {self.start!r}")
        return self


class _DelayConfig(_Model):
    type: Literal["delay"] | None = None


class DelayFor(_DelayConfig):
    duration: DurationText
    window: Window | None = None
    if_window_missed: Literal["next_window", "send_anyway"] | None = None

    @model_validator(mode="after")
    def _missed_needs_window(self) -> "DelayFor":
        if self.if_window_missed is not None and self.window is None:
            raise _FieldError("if_window_missed", "'if_window_missed' only applies with a 'window'")
        return self


class DelayUntilWeekday(_DelayConfig):
    until: Literal["weekday"]
    weekday: Weekday
    time: ClockTime
    timezone: ZoneChoice | None = None


IfPast = Literal["continue", "skip_next_email"]
"""When an `until` target has already passed on arrival: go on (the default), or go on
without sending the email right after the delay (a reminder that would come too late)."""


class DelayUntilDatetime(_DelayConfig):
    """`at` without a UTC offset is local time in `timezone` (default: the recipient's)."""

    until: Literal["datetime"]
    at: Annotated[str, AfterValidator(_iso_datetime)]
    timezone: ZoneChoice | None = None
    if_past: IfPast | None = None

    @model_validator(mode="after")
    def _one_zone(self) -> "DelayUntilDatetime":
        if self.timezone is not None and datetime.fromisoformat(self.at).tzinfo is not None:
            raise _FieldError("timezone", "'at' already has a UTC offset; drop one of the two")
        return self


class DelayUntilField(_DelayConfig):
    """Wait until the date in a contact field (e.g. `webinar_at`), shifted by `offset`."""

    until: Literal["field"]
    field: NonBlank
    offset: OffsetText | None = None
    timezone: ZoneChoice | None = None
    if_past: IfPast | None = None


def _delay_kind(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("type") == "wait_until":
        return None  # the seed calls it delay_config, but here it is a step type of its own
    until = value.get("until") if isinstance(value, dict) else getattr(value, "until", None)
    return "for_duration" if until is None else f"until_{until}"


DelayConfig = Annotated[
    Annotated[DelayFor, Tag("for_duration")]
    | Annotated[DelayUntilWeekday, Tag("until_weekday")]
    | Annotated[DelayUntilDatetime, Tag("until_datetime")]
    | Annotated[DelayUntilField, Tag("until_field")],
    Discriminator(_delay_kind, custom_error_type="delay_kind", custom_error_message="-"),
]


class WaitForEvent(_Model):
    """An event to wait for; email events need the email step they refer to.

    `properties` must equal the event's; `match` correlates with the enrollment: its values
    may be references such as `{{ enrollment.trigger.properties.cart_id }}`.
    """

    event: NonBlank
    timeout: DurationText
    properties: Properties | None = None
    match: Properties | None = None
    email_step_id: NonBlank | None = None
    link_url_contains: NonBlank | None = None

    @model_validator(mode="after")
    def _email_event_names_step(self) -> "WaitForEvent":
        is_email = self.event in EMAIL_EVENTS
        if is_email and self.email_step_id is None:
            raise _FieldError("email_step_id", f"email event {self.event!r} needs 'email_step_id'")
        if not is_email and self.email_step_id is not None:
            events = ", ".join(EMAIL_EVENTS)
            raise _FieldError("email_step_id", f"'email_step_id' only applies to {events}")
        _check_link_filter(self.event, self.link_url_contains)
        return self


class WaitForField(_Model):
    """Wait until a contact field gets a value or changes."""

    field: NonBlank
    timeout: DurationText


def _wait_kind(value: Any) -> str | None:
    keys = value if isinstance(value, dict) else vars(value) if isinstance(value, BaseModel) else {}
    return "wait_event" if "event" in keys else "wait_field" if "field" in keys else None


WaitCondition = Annotated[
    Annotated[WaitForEvent, Tag("wait_event")] | Annotated[WaitForField, Tag("wait_field")],
    Discriminator(_wait_kind, custom_error_type="wait_kind", custom_error_message="-"),
]


class OnTimeout(_Model):
    """The seed's inline timeout path: `action` (or `next`) is the id of the step to go to."""

    action: NonBlank | None = None
    next: NonBlank | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "OnTimeout":
        if (self.action is None) == (self.next is None):
            raise _FieldError("next", "give the timeout path's step id as 'next' (or 'action')")
        return self


class WaitUntilConfig(_Model):
    """Wait for the first condition met (`met` path); each condition counts only within its
    own timeout, so the `timeout` path is taken once the longest timeout has passed."""

    type: Literal["wait_until"] | None = None
    conditions: list[WaitCondition] = Field(min_length=1, max_length=limits.CHOICES)
    on_timeout: OnTimeout | None = None


class BranchConfig(_Model):
    type: Literal["branch"] | None = None
    condition: Condition
    true_path_next: NonBlank | None = None
    false_path_next: NonBlank | None = None


class SplitPath(_Model):
    label: Label
    percent: int = Field(ge=1, le=100)


class SplitConfig(_Model):
    type: Literal["split"] | None = None
    paths: list[SplitPath] = Field(min_length=2, max_length=limits.CHOICES)

    @model_validator(mode="after")
    def _paths_cover_everyone(self) -> "SplitConfig":
        labels = [path.label for path in self.paths]
        duplicate = next((label for label in labels if labels.count(label) > 1), None)
        if duplicate is not None:
            raise _FieldError("paths", f"path label {duplicate!r} is used more than once")
        total = sum(path.percent for path in self.paths)
        if total != 100:
            raise _FieldError("paths", f"path percentages add up to {total}; they must total 100")
        return self


class _ActionConfig(_Model):
    type: Literal["action"] | None = None


class AddTagAction(_ActionConfig):
    action: Literal["add_tag"]
    tag: NonBlank


class RemoveTagAction(_ActionConfig):
    action: Literal["remove_tag"]
    tag: NonBlank


class UpdateFieldAction(_ActionConfig):
    """`value` is required; null is a real value that clears the field."""

    action: Literal["update_field"]
    field: NonBlank
    value: BoundedJson


class MoveToSequenceAction(_ActionConfig):
    action: Literal["move_to_sequence"]
    sequence: NonBlank


class ExitAction(_ActionConfig):
    action: Literal["exit"]


ActionConfig = Annotated[
    AddTagAction | RemoveTagAction | UpdateFieldAction | MoveToSequenceAction | ExitAction,
    Discriminator("action"),
]


class GoalConfig(_Model):
    type: Literal["goal"] | None = None
    goal: NonBlank


class EndConfig(_Model):
    type: Literal["end"] | None = None


StepConfig = (
    EmailConfig
    | DelayFor
    | DelayUntilWeekday
    | DelayUntilDatetime
    | DelayUntilField
    | WaitUntilConfig
    | BranchConfig
    | SplitConfig
    | AddTagAction
    | RemoveTagAction
    | UpdateFieldAction
    | MoveToSequenceAction
    | ExitAction
    | GoalConfig
    | EndConfig
    | WebhookConfig
)
_CONFIG_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "email": TypeAdapter(EmailConfig),
    "delay": TypeAdapter(DelayConfig),
    "wait_until": TypeAdapter(WaitUntilConfig),
    "branch": TypeAdapter(BranchConfig),
    "split": TypeAdapter(SplitConfig),
    "action": TypeAdapter(ActionConfig),
    "goal": TypeAdapter(GoalConfig),
    "end": TypeAdapter(EndConfig),
    "webhook": TypeAdapter(WebhookConfig),
}
"""Config validators by step type, for snippets that come without a step around them."""


# --- Steps, connections, definition --------------------------------------------------------


class _Step(_Model):
    """Fields shared by every step; subclasses pin `type` and the matching `config` model."""

    id: StepId
    type: str
    name: OneLine | None = None
    config: Any
    position: Position | None = None

    def config_dict(self) -> dict[str, Any]:
        """The config as stored in `sequence_steps.config` and exported."""
        return self.config.model_dump(mode="json")


class EmailStep(_Step):
    type: Literal["email"]
    config: EmailConfig


class DelayStep(_Step):
    type: Literal["delay"]
    config: DelayConfig


class WaitUntilStep(_Step):
    type: Literal["wait_until"]
    config: WaitUntilConfig


class BranchStep(_Step):
    type: Literal["branch"]
    config: BranchConfig


class SplitStep(_Step):
    type: Literal["split"]
    config: SplitConfig


class ActionStep(_Step):
    type: Literal["action"]
    config: ActionConfig


class GoalStep(_Step):
    type: Literal["goal"]
    config: GoalConfig


class EndStep(_Step):
    type: Literal["end"]
    config: EndConfig = Field(default_factory=EndConfig)


class WebhookStep(_Step):
    type: Literal["webhook"]
    config: WebhookConfig


Step = Annotated[
    EmailStep
    | DelayStep
    | WaitUntilStep
    | BranchStep
    | SplitStep
    | ActionStep
    | GoalStep
    | EndStep
    | WebhookStep,
    Discriminator("type"),
]


class Connection(_Model):
    source: NonBlank
    target: NonBlank
    label: Label | None = None


class SequenceDefinition(_Model):
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


# --- Parsing ---------------------------------------------------------------------------------


class _YamlLoader(safe_yaml.NoAliasLoader):
    """YAML 1.1 reads `start: 17:00` as the number 1020 and unquoted dates as datetimes;
    in this format both are text. Aliases are refused (see `safe_yaml`)."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        tag = super().resolve(kind, value, implicit)
        is_number = tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        if tag == "tag:yaml.org,2002:timestamp" or (is_number and ":" in value):
            return "tag:yaml.org,2002:str"
        return tag


def parse_definition(source: str | bytes | dict[str, Any]) -> SequenceDefinition:
    """Parse and fully validate a definition given as a dict, JSON text or YAML text.

    Inline `true_path_next` / `false_path_next` / `on_timeout` keys become connections.
    Raises DefinitionError listing every problem, model problems before graph problems.
    """
    data = load_document(source)
    if not isinstance(data, dict):
        raise DefinitionError(
            [Problem("a sequence definition must be a mapping with keys such as name and steps")]
        )
    try:
        defn = SequenceDefinition.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_problems_from(exc, data)) from None
    inline_problems = _move_inline_paths(defn)
    if inline_problems:
        raise DefinitionError(inline_problems)
    problems = validate_graph(defn) + _goal_problems(defn)
    if problems:
        raise DefinitionError(problems)
    return defn


def parse_step_snippet(source: str | dict[str, Any]) -> StepConfig:
    """Parse the seed's `step_config:` / `delay_config:` snippets into a config model.

    The step type comes from the snippet's `type` key; `delay_config` without one is a delay.
    Inline path keys are kept on the returned model since there is no graph to move them to.
    """
    data = load_document(source)
    if not isinstance(data, dict) or len(data) != 1 or not set(data) <= _SNIPPET_KEYS:
        raise DefinitionError(
            [Problem("a snippet must be a mapping with the single key step_config or delay_config")]
        )
    key, config = next(iter(data.items()))
    if not isinstance(config, dict):
        raise DefinitionError([Problem("must be a mapping of config keys", field=key)])
    step_type = config.get("type", "delay" if key == "delay_config" else None)
    if step_type not in _CONFIG_ADAPTERS:
        raise DefinitionError([Problem(_unknown_step_type(step_type), field=f"{key}.type")])
    try:
        return _CONFIG_ADAPTERS[step_type].validate_python(config)
    except ValidationError as exc:
        raise DefinitionError(_problems_from(exc, data, prefix=(key,))) from None


_SNIPPET_KEYS = {"step_config", "delay_config"}


def step_config_problems(step_type: str, config: Any, step_id: str | None = None) -> list[Problem]:
    """Every problem of one step's config, fields given as `config.<path>`; [] when valid.

    The builder stores unfinished steps and shows these on the canvas instead of refusing.
    """
    adapter = _CONFIG_ADAPTERS.get(step_type)
    if adapter is None:
        return [Problem(_unknown_step_type(step_type), "type", step_id)]
    try:
        adapter.validate_python(config)
    except ValidationError as exc:
        problems = _problems_from(exc, {"config": config}, prefix=("config",))
        return [Problem(p.message, p.field, step_id) for p in problems]
    return []


def settings_problems(data: dict[str, Any]) -> list[Problem]:
    """Every problem of a definition's top level (name, trigger, exit, re_enrollment,
    settings) checked without steps: the builder's settings form saves these on their own."""
    try:
        SequenceDefinition.model_validate(data)
    except ValidationError as exc:
        return _problems_from(exc, data)
    return []


def _unknown_step_type(step_type: Any) -> str:
    expected = ", ".join(STEP_TYPES)
    if step_type is None:
        return f"a 'type' is required; expected one of {expected}"
    return f"unknown step type {step_type!r}; expected one of {expected}"


def load_document(source: str | bytes | dict[str, Any]) -> Any:
    """JSON is tried first for text that looks like JSON, for its precise error positions;
    anything but text is taken as already loaded (a list is then refused as no mapping)."""
    if not isinstance(source, str | bytes):
        return source
    text = _decode(source) if isinstance(source, bytes) else source
    json_error = None
    if text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_error = exc
    try:
        return safe_yaml.load(text, _YamlLoader)
    except yaml.YAMLError as exc:
        raise DefinitionError([_syntax_problem(json_error or exc)]) from None


def _decode(source: bytes) -> str:
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DefinitionError([Problem("the file is not UTF-8 text")]) from None


def _syntax_problem(exc: json.JSONDecodeError | yaml.YAMLError) -> Problem:
    if isinstance(exc, json.JSONDecodeError):
        return Problem(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return Problem(f"invalid YAML: {problem}")
    return Problem(f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}")


def _move_inline_paths(defn: SequenceDefinition) -> list[Problem]:
    """Turn the seed's inline next-step keys into labelled connections."""
    ids = {step.id for step in defn.steps}
    problems = []
    for step in defn.steps:
        for field, label, target in _pop_inline_paths(step):
            connection = Connection(source=step.id, target=target, label=label)
            if target not in ids:
                message = f"{target!r} is not a step in this sequence"
                problems.append(Problem(message, field, step.id))
            elif connection not in defn.connections:
                defn.connections.append(connection)
    return problems


def _pop_inline_paths(step: _Step) -> list[tuple[str, str, str]]:
    """(field, label, target) for each inline path key, removed from the config."""
    config = step.config
    found: list[tuple[str, str, str | None]] = []
    if isinstance(config, BranchConfig):
        found = [
            ("config.true_path_next", "true", config.true_path_next),
            ("config.false_path_next", "false", config.false_path_next),
        ]
        config.true_path_next = config.false_path_next = None
    elif isinstance(config, WaitUntilConfig) and config.on_timeout is not None:
        on_timeout = config.on_timeout
        key = "action" if on_timeout.next is None else "next"
        found = [(f"config.on_timeout.{key}", "timeout", on_timeout.next or on_timeout.action)]
        config.on_timeout = None
    return [(field, label, target) for field, label, target in found if target is not None]


def _goal_problems(defn: SequenceDefinition) -> list[Problem]:
    """Goal names must be unique, and exit goals must name a defined goal or a goal step."""
    problems = []
    names = [goal.name for goal in defn.goals]
    for index, name in enumerate(names):
        if name in names[:index]:
            message = f"goal {name!r} is defined more than once"
            problems.append(Problem(message, f"goals[{index}].name"))
    known = set(names) | {step.config.goal for step in defn.steps if isinstance(step, GoalStep)}
    for index, name in enumerate(defn.exit.goals):
        if name not in known:
            message = f"exit goal {name!r} is neither in 'goals' nor a goal step"
            problems.append(Problem(message, f"exit.goals[{index}]"))
    return problems


# --- Turning pydantic errors into problems ---------------------------------------------------


def _problems_from(
    error: ValidationError, data: Any, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    for item in error.errors():
        problem = _problem_from(item, data, prefix + tuple(item["loc"]))
        if problem not in problems:
            problems.append(problem)
    return problems


def _problem_from(item: Any, data: Any, loc: tuple[str | int, ...]) -> Problem:
    parts = _data_path(loc, data)
    message, extra = _message(item, parts)
    parts += extra
    step = None
    if len(parts) >= 2 and parts[0] == "steps" and isinstance(parts[1], int):
        raw_id = data["steps"][parts[1]].get("id") if _is_step_dict(data, parts[1]) else None
        if isinstance(raw_id, str) and raw_id.strip():
            step, parts = raw_id, parts[2:]
    return Problem(message, _dotted(parts) or None, step)


def _is_step_dict(data: Any, index: int) -> bool:
    steps = data.get("steps")
    return isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict)


def _data_path(loc: tuple[str | int, ...], data: Any) -> list[str | int]:
    """Follow a pydantic location through the input, dropping union tags it inserts."""
    parts: list[str | int] = []
    node = data
    tag_skipped = False
    for segment in loc:
        if isinstance(node, list) and isinstance(segment, int):
            parts.append(segment)
            node = node[segment] if segment < len(node) else None
            tag_skipped = False
        elif isinstance(node, dict):
            if not tag_skipped and _is_tag(segment, node):
                tag_skipped = True
                continue
            parts.append(segment)
            node = node.get(segment)
            tag_skipped = False
        elif node is None:
            parts.append(segment)
        # Segments below a scalar name union members pydantic tried; they are not keys.
    return parts


def _is_tag(segment: str | int, node: dict[str, Any]) -> bool:
    if segment in _SYNTHETIC_TAGS:
        return True
    return any(node.get(key) == segment for key in ("type", "action"))


_SYNTHETIC_TAGS = {
    *_COMBINATORS.values(),
    "for_duration",
    "until_weekday",
    "until_datetime",
    "until_field",
    "wait_event",
    "wait_field",
}


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(".")


def _message(item: Any, parts: list[str | int]) -> tuple[str, list[str | int]]:
    """Readable English for one pydantic error, plus any key to add to its location."""
    kind, ctx, value = item["type"], item.get("ctx", {}), item.get("input")
    last = parts[-1] if parts else None
    if kind == "missing":
        return f"{last!r} is required", []
    if kind == "extra_forbidden":
        return _unknown_key_message(str(last)), []
    if kind == "union_tag_invalid":
        key = ctx["discriminator"].strip("'")
        expected = ctx["expected_tags"].replace("'", "")
        what = _union_name(key, parts)
        return f"unknown {what} {ctx['tag']!r}; expected one of {expected}", [key]
    if kind == "union_tag_not_found":
        key = ctx["discriminator"].strip("'")
        if _union_name(key, parts) == "step type":
            return _unknown_step_type(None), [key]
        return f"{key!r} is required", [key]
    if kind in _CUSTOM_UNION_MESSAGES:
        return _CUSTOM_UNION_MESSAGES[kind](value)
    if kind == "literal_error":
        return f"{_show(value)} is not allowed; expected {ctx['expected']}", []
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"should be a mapping of keys, got {_show(value)}", []
    if kind in ("value_error", "assertion_error"):
        error = ctx["error"]
        return str(error), [error.field] if isinstance(error, _FieldError) else []
    return _generic_message(item["msg"], value), []


def _union_name(discriminator: str, parts: list[str | int]) -> str:
    if discriminator != "type":
        return discriminator
    if len(parts) == 2 and parts[0] == "steps":
        return "step type"
    owner = next((part for part in reversed(parts) if isinstance(part, str)), "")
    return f"{owner} type".strip()


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, _KNOWN_KEYS - {key}, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint}"


def _condition_message(value: Any) -> tuple[str, list[str | int]]:
    types = "email_event, event, field, segment, tag"
    if isinstance(value, dict) and "type" in value:
        return f"unknown condition type {value['type']!r}; expected one of {types}", ["type"]
    return f"a condition needs a 'type' ({types}) or one of 'all', 'any', 'not'", []


def _delay_message(value: Any) -> tuple[str, list[str | int]]:
    if value.get("type") == "wait_until":
        return "a wait_until config needs a step of type 'wait_until', not 'delay'", ["type"]
    until = value.get("until")
    return (
        f"unknown 'until' value {until!r}; expected weekday, datetime or field "
        "(or leave 'until' out and give a 'duration')",
        ["until"],
    )


def _wait_message(value: Any) -> tuple[str, list[str | int]]:
    return "a wait condition needs an 'event' or a 'field' to wait for", []


_CUSTOM_UNION_MESSAGES = {
    "condition_kind": _condition_message,
    "delay_kind": _delay_message,
    "wait_kind": _wait_message,
}


def _generic_message(message: str, value: Any) -> str:
    if message.startswith("Input should be "):
        return f"should be {message.removeprefix('Input should be ')}, got {_show(value)}"
    return message


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- Export ----------------------------------------------------------------------------------


def definition_to_dict(defn: SequenceDefinition) -> dict[str, Any]:
    """The canonical JSON-ready form: `format` first, no null optional keys, durations as
    written, inline path keys already turned into connections (for parsed definitions)."""
    return defn.model_dump(mode="json")


def dump_json(defn: SequenceDefinition) -> str:
    return json.dumps(definition_to_dict(defn), indent=2, ensure_ascii=False) + "\n"


def dump_yaml(defn: SequenceDefinition) -> str:
    return yaml.safe_dump(
        definition_to_dict(defn), sort_keys=False, allow_unicode=True, default_flow_style=False
    )
