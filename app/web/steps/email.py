"""The email step's panel: subject, sender name, body and text, A/B variants; its preview."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import MultiDict

from app.models import Contact, Sequence
from app.services import panel_choices
from app.services.panel_choices import SampleContact
from app.services.template_budget import email_budget_problems
from app.web.form_toolkit import FormReader, dicts, drop_none, text_of
from app.web.steps.base import StepForm

PREVIEW_CONTACTS = 50
_VARIANT_PARTS = ("subject", "body", "text")


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [(key, text_of(config.get(key))) for key in ("subject", "from_name", "body", "text")]
    for index, variant in enumerate(dicts(config.get("variants"))):
        row = f"variants.{index}"
        pairs += [(f"{row}.key", text_of(variant.get("key")))]
        pairs += [(f"{row}.weight", text_of(variant.get("weight")))]
        pairs += [(f"{row}.{part}", text_of(variant.get(part))) for part in _VARIANT_PARTS]
    ab_test = config.get("ab_test") if isinstance(config.get("ab_test"), dict) else {}
    pairs += [("ab_test.metric", text_of(ab_test.get("metric")))]
    pairs += [("ab_test.pick_winner_after", text_of(ab_test.get("pick_winner_after")))]
    return pairs


def _from_form(read: FormReader) -> dict[str, Any]:
    variants = []
    for index in read.rows("variants"):
        row = f"variants.{index}"
        variant = {"key": read.text(f"{row}.key"), "weight": read.integer(f"{row}.weight")}
        variant["subject"] = read.optional(f"{row}.subject")
        variant["body"] = read.optional_long_text(f"{row}.body")
        variant["text"] = read.optional_long_text(f"{row}.text")
        if variant["weight"] is None:
            read.form.add_error(f"{row}.weight", "give each variant a weight, such as 50")
        variants.append(drop_none(variant))
    metric = read.optional("ab_test.metric")
    pick_after = read.integer("ab_test.pick_winner_after")
    if pick_after is not None and metric is None:
        read.form.add_error("ab_test.metric", "choose the metric that picks the winner")
    ab_test = drop_none({"metric": metric, "pick_winner_after": pick_after}) if metric else None
    return drop_none(
        {
            "subject": read.text("subject"),
            "body": read.long_text("body"),
            "text": read.optional_long_text("text"),
            "from_name": read.optional("from_name"),
            "variants": variants or None,
            "ab_test": ab_test,
        }
    )


def _choices(sequence: Sequence) -> dict[str, Any]:
    custom_fields = panel_choices.custom_fields(sequence.workspace_id)
    contacts = panel_choices.first_contacts(sequence.workspace_id, PREVIEW_CONTACTS)
    return {
        "custom_fields": custom_fields,
        "variables": _variables(custom_fields),
        "contacts": [(str(contact.id), contact_label(contact)) for contact in contacts],
    }


def _variables(custom_fields: list[str]) -> list[tuple[str, str]]:
    """(button label, template text) for the email form's variable picker."""
    variables = [
        ("First name", "{{ contact.first_name }}"),
        ("Last name", "{{ contact.last_name }}"),
        ("Email", "{{ contact.email }}"),
    ]
    for name in custom_fields:
        key = f".{name}" if name.isidentifier() else f"[{json.dumps(name)}]"
        variables.append((name, f"{{{{ contact.fields{key} }}}}"))
    return [*variables, ("Unsubscribe link", "{{ unsubscribe_url }}")]


def contact_label(contact: Contact | SampleContact) -> str:
    """How the preview names a recipient: `Ann Lee <ann@example.com>`, or just the address."""
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return f"{name} <{contact.email}>" if name else contact.email


def email_preview_parts(
    values: MultiDict[str, str], stored: dict[str, Any]
) -> tuple[str, str, str | None]:
    """Subject, HTML and text to preview, with the chosen variant's overrides.

    The posted fields are previewed as typed; a form that posts none (its fields are
    disabled while the sequence is active) previews the stored step instead.
    """
    source = values if "body" in values else MultiDict(_to_form(dict(stored or {})))
    read = FormReader(source)
    parts = {"subject": read.text("subject"), "body": read.long_text("body")}
    parts["text"] = read.long_text("text")
    chosen = values.get("preview.variant", "").strip()
    for index in read.rows("variants") if chosen else []:
        row = f"variants.{index}"
        if read.text(f"{row}.key") == chosen:
            overrides = {part: read.long_text(f"{row}.{part}") for part in _VARIANT_PARTS}
            parts |= {part: text for part, text in overrides.items() if text.strip()}
    return parts["subject"].strip(), parts["body"], parts["text"] or None


FORM = StepForm(
    type="email",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    rows={"variants": (("key", ""), ("weight", "50"), ("subject", ""))},
    save_problems=email_budget_problems,
)
