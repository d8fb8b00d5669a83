"""Email: send one message to the contact (the dispatcher renders and delivers it)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from app.core import limits
from app.core.format.values import Body, FieldError, Model, NonBlank, OneLine, Subject
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


class Variant(Model):
    key: NonBlank
    weight: int = Field(gt=0)
    subject: Subject | None = None
    body: Body | None = None
    text: Body | None = None

    @model_validator(mode="after")
    def _safe_links(self) -> Variant:
        _check_link_schemes(self.body)
        return self


class AbTest(Model):
    metric: Literal["open_rate", "click_rate", "reply_rate"]
    pick_winner_after: int | None = Field(default=None, ge=1)


class EmailConfig(Model):
    """Subject and body must be present but may be empty: drafts are saved while being written."""

    type: Literal["email"] | None = None
    subject: Subject
    body: Body
    text: Body | None = None
    from_name: OneLine | None = None
    variants: Annotated[list[Variant], Field(max_length=limits.VARIANTS)] | None = None
    ab_test: AbTest | None = None

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


def _summary(config: Mapping[str, Any]) -> str:
    subject = str(config.get("subject") or "").strip()
    return subject or "No subject yet"


def _run(step: Step, ctx: Context) -> Verdict:
    """Queue the email (the dispatcher renders and sends it), unless the delay before found
    its target already passed and asked to skip a reminder that would come too late."""
    if ctx.skip_email:
        return Verdict.go("skipped_late")
    return Verdict.go("queued", email=True)


def _unsupported(config: EmailConfig) -> str | None:
    return "an email with A/B variants" if config.variants else None


KIND = StepKind(
    type="email",
    label="Email",
    hint="Send an email",
    colour="#1f6feb",
    order=10,
    summary=_summary,
    run=_run,
    unsupported=_unsupported,
    config_model=EmailConfig,
    default_config={"subject": "", "body": ""},
)
