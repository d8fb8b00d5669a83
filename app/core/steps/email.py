"""Email: send one message to the contact (the dispatcher renders and delivers it)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from app.core import experiments, limits, timing
from app.core.email_blocks import Blocks, Style
from app.core.format.values import (
    Body,
    DurationText,
    FieldError,
    Model,
    NonBlank,
    OneLine,
    Subject,
)
from app.core.steps.base import StepKind
from app.core.steps.runtime import Context, Verdict

if TYPE_CHECKING:
    from app.core.engine import Step

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
            raise FieldError(
                "body",
                f"the link scheme '{scheme.group(1).lower()}:' is not allowed in the body; "
                "links must start with http://, https:// or mailto:",
            )


VARIANT_KEY_MAX = 32
"""A variant key is stored on messages and step logs (VARCHAR(32))."""


class Variant(Model):
    key: Annotated[NonBlank, Field(max_length=VARIANT_KEY_MAX)]
    weight: int = Field(gt=0)
    subject: Subject | None = None
    body: Body | None = None
    text: Body | None = None
    from_name: OneLine | None = None

    @model_validator(mode="after")
    def _safe_links(self) -> Variant:
        _check_link_schemes(self.body)
        return self


METRICS = ("open_rate", "click_rate", "reply_rate", "conversion_rate")


class AbTest(Model):
    """How the winner is picked; `pick_winner_after` is the first wave's name of `min_sends`."""

    metric: Literal[METRICS]  # type: ignore[valid-type]
    min_sends: int = Field(default=200, ge=1, le=10_000_000)
    pick_winner_after: int | None = Field(default=None, ge=1, le=10_000_000)
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)
    max_duration: DurationText | None = "14 days"
    fallback: Literal["best", "keep_split"] = "best"
    goal: OneLine | None = None
    attribution_window: DurationText = "7 days"

    @model_validator(mode="after")
    def _goal_for_conversions(self) -> AbTest:
        if self.metric == "conversion_rate" and not self.goal:
            raise FieldError("goal", "metric 'conversion_rate' needs the 'goal' it counts")
        if self.metric != "conversion_rate" and self.goal:
            raise FieldError("goal", "a 'goal' only applies to metric 'conversion_rate'")
        return self

    @property
    def sends_needed(self) -> int:
        return self.pick_winner_after or self.min_sends


METRIC_NAMES = {
    "open_rate": "open rate",
    "click_rate": "click rate",
    "reply_rate": "reply rate",
    "conversion_rate": "conversion rate",
}


def describe_test(test: AbTest) -> str:
    """The test in a sentence, as the launch checklist and the panel say it: `click rate,
    at least 200 sends each, 95% confidence, up to 14 days, then the best`."""
    metric = METRIC_NAMES[test.metric]
    if test.metric == "conversion_rate":
        metric += f" ('{test.goal}' within {test.attribution_window})"
    limit = f"up to {test.max_duration}" if test.max_duration else "no time limit"
    then = "then the best" if test.fallback == "best" else "then keep the split"
    confidence = f"{round(test.confidence * 100, 4):g}%"
    sends = f"at least {test.sends_needed} sends each"
    return f"{metric}, {sends}, {confidence} confidence, {limit}, {then}"


class EmailConfig(Model):
    """Subject and body must be present but may be empty: drafts are saved while being written.

    With `blocks` (see core/email_blocks.py) the body is generated from them when the step
    is saved, so it may be left out; without, the body is the author's own HTML."""

    type: Literal["email"] | None = None
    subject: Subject
    body: Body
    blocks: Blocks | None = None
    style: Style | None = None
    """The blocks' font and brand colour."""
    text: Body | None = None
    from_name: OneLine | None = None
    thread: bool | None = None
    """Reply in the same thread: sent as a reply to the enrollment's previous email
    (In-Reply-To, References, "Re: <its subject>"); the step's own subject when none."""
    plain_text_only: bool | None = None
    """Send text/plain alone, like a personal email: `text`, or the body's text without its
    markup; no open pixel then."""
    variants: Annotated[list[Variant], Field(max_length=limits.VARIANTS)] | None = None
    ab_test: AbTest | None = None

    @model_validator(mode="before")
    @classmethod
    def _body_from_blocks(cls, data: Any) -> Any:
        """An email written as blocks gets its body when saved: it need not come with one."""
        if isinstance(data, Mapping) and data.get("blocks") is not None and "body" not in data:
            return {**data, "body": ""}
        return data

    @model_validator(mode="after")
    def _style_needs_blocks(self) -> EmailConfig:
        if self.style is not None and self.blocks is None:
            raise FieldError("style", "a 'style' applies to 'blocks' only; style HTML in the body")
        return self

    @model_validator(mode="after")
    def _variants_make_sense(self) -> EmailConfig:
        variants = self.variants or []
        if variants and len(variants) < 2:
            raise FieldError("variants", "A/B testing needs at least two variants")
        keys = [variant.key for variant in variants]
        duplicate = next((key for key in keys if keys.count(key) > 1), None)
        if duplicate is not None:
            raise FieldError("variants", f"variant key {duplicate!r} is used more than once")
        if self.ab_test is not None and not variants:
            raise FieldError("ab_test", "'ab_test' needs 'variants' to compare")
        return self

    @model_validator(mode="after")
    def _safe_links(self) -> EmailConfig:
        _check_link_schemes(self.body)
        return self


VARIANT_PARTS = ("subject", "body", "text", "from_name")


def with_variant(config: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """The email as variant `key` sends it: its subject, body, text and sender name override
    the step's (a variant no longer in the step sends the step's own email)."""
    merged = dict(config)
    for variant in config.get("variants") or [] if key is not None else []:
        if isinstance(variant, Mapping) and variant.get("key") == key:
            merged |= {part: variant[part] for part in VARIANT_PARTS if variant.get(part)}
    return merged


def _summary(config: Mapping[str, Any]) -> str:
    subject = str(config.get("subject") or "").strip()
    return subject or "No subject yet"


def _run(step: Step, ctx: Context) -> Verdict:
    """Queue the email (the dispatcher renders and sends it) once the sequence's sending
    hours are open, unless the delay before found its target already passed and asked to
    skip a reminder that would come too late, or the enrollment is in the sequence's holdout
    group (it goes on through waits and goals, and
    nothing is sent: the report compares it with everyone else)."""
    if ctx.skip_email:
        return Verdict.go("skipped_late")
    hours = ctx.sending_hours
    if hours is not None and not timing.in_window(ctx.now, hours, ctx.position.zone):
        # held-out runs wait too, so both groups move on the same clock
        return Verdict.wait(timing.next_window_open(ctx.now, hours, ctx.position.zone))
    if ctx.position.holdout:
        return Verdict.go("held_out")
    allowance = ctx.position.allowance
    if allowance is not None and allowance.room - ctx.emails_queued <= 0:
        reopens = allowance.reopens_at or ctx.now
        if hours is not None:  # the cap's new day may open before the sending hours
            reopens = timing.next_window_open(reopens, hours, ctx.position.zone)
        return Verdict.wait(reopens, allowance.reason or "held by the frequency cap")
    return Verdict.go("queued", email=True, variant=_variant(step, ctx))


def _variant(step: Step, ctx: Context) -> str | None:
    """The test's winner once there is one, else the run's sticky draw by weight."""
    config: EmailConfig = step.parsed
    if not config.variants:
        return None
    winner = ctx.position.winners.get(step.id)
    if winner is not None and any(v.key == winner for v in config.variants):
        return winner
    weighted = [(v.key, v.weight) for v in config.variants]
    position = ctx.position
    return experiments.variant_for(weighted, position.draw, position.enrollment_id, step.id)


KIND = StepKind(
    type="email",
    label="Email",
    hint="Send an email",
    colour="#1f6feb",
    order=10,
    summary=_summary,
    run=_run,
    config_model=EmailConfig,
    default_config={"subject": "", "body": ""},
)
