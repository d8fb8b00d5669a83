"""A contact event told as a sentence a marketer reads ("Opened “Welcome aboard”",
"Changed plan from “free” to “pro”"), for the timelines of the contact and enrollment
pages, instead of its type and raw JSON properties.

Pure: the caller passes what the event's ids refer to (the subject of the email it is
about). Sentences are plain text; the templates escape them. Long values are shortened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from app.core import events as names

MAX_VALUE = 80
"""Characters of one value shown before it is shortened with an ellipsis."""
MAX_PROPERTIES = 5
"""Properties of a custom event listed in its sentence; more are counted."""

Props = Mapping[str, Any]


def event_sentence(kind: str, properties: Props, email: str | None = None) -> str:
    """The sentence for an event of type `kind`; `email` is the subject of the email it is
    about (None when it is about none, or the email is gone)."""
    about = quoted(email) if email else "an email"
    told = SENTENCES.get(kind)
    return told(properties, about) if told is not None else _custom(kind, properties)


def quoted(value: Any) -> str:
    """A value as a sentence shows it: text in quotes, numbers and booleans as they are,
    None as "nothing", lists and objects as compact JSON; shortened past MAX_VALUE."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f"“{_short(value)}”"
    return _short(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _short(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _field_changed(p: Props, _about: str) -> str:
    field = p.get("field", "a field")
    if p.get("to") is None:
        return f"Removed {field} (was {quoted(p.get('from'))})"
    if p.get("from") is None:
        return f"Set {field} to {quoted(p.get('to'))}"
    return f"Changed {field} from {quoted(p.get('from'))} to {quoted(p.get('to'))}"


def _form_submitted(p: Props, _about: str) -> str:
    form = p.get("form")
    return f"Submitted the form {quoted(form)}" if form else "Submitted a form"


def _clicked(p: Props, about: str) -> str:
    url = p.get("url")
    return f"Clicked {_short(str(url))} in {about}" if url else f"Clicked a link in {about}"


def _bot_click(p: Props, about: str) -> str:
    link = _short(str(p["url"])) if p.get("url") else "a link"
    return f"A link scanner followed {link} in {about} (not counted as a click)"


def _page_viewed(p: Props, _about: str) -> str:
    return f"Viewed {_short(str(p['url']))}" if p.get("url") else "Viewed a page"


def _bounced(p: Props, about: str) -> str:
    status = f" (status {p['status']})" if p.get("status") else ""
    return f"{about[:1].upper()}{about[1:]} bounced{status}: the address is suppressed"


def _soft_bounced(p: Props, about: str) -> str:
    status = f" (status {p['status']})" if p.get("status") else ""
    return f"{about[:1].upper()}{about[1:]} could not be delivered for now{status}"


def _unsubscribed(p: Props, about: str) -> str:
    method = p.get("method")
    if method == "manual":
        return f"Unsubscribed by {p.get('by') or 'a user'}"
    how = {"one_click": "with one click from", "link": "with the link in"}.get(method, "from")
    return f"Unsubscribed {how} {about}"


def _resubscribed(p: Props, _about: str) -> str:
    lifted = f" (was suppressed: {p['suppressed_for']})" if p.get("suppressed_for") else ""
    return f"Allowed emails again by {p.get('by') or 'a user'}{lifted}"


def _segment(verb: str) -> Callable[[Props, str], str]:
    def told(p: Props, _about: str) -> str:
        return f"{verb} the segment {quoted(p.get('segment'))}"

    return told


def _custom(kind: str, p: Props) -> str:
    """A client's own event: its name and its first properties."""
    shown = [f"{key}: {quoted(value)}" for key, value in list(p.items())[:MAX_PROPERTIES]]
    if len(p) > MAX_PROPERTIES:
        shown.append(f"{len(p) - MAX_PROPERTIES} more")
    return f"Did “{_short(kind)}”" + (f" ({', '.join(shown)})" if shown else "")


SENTENCES: dict[str, Callable[[Props, str], str]] = {
    names.FIELD_CHANGED: _field_changed,
    names.FORM_SUBMITTED: _form_submitted,
    names.OPENED: lambda _p, about: f"Opened {about}",
    names.MACHINE_OPEN: lambda _p, about: (
        f"A mail client's privacy proxy loaded {about} (not counted as an open)"
    ),
    names.CLICKED_LINK: _clicked,
    names.BOT_CLICK: _bot_click,
    names.PAGE_VIEWED: _page_viewed,
    names.REPLIED: lambda _p, about: f"Replied to {about}",
    names.AUTO_REPLY: lambda _p, about: f"Sent an automatic reply to {about}",
    names.BOUNCED: _bounced,
    names.SOFT_BOUNCED: _soft_bounced,
    names.COMPLAINED: lambda _p, about: f"Marked {about} as spam: the address is suppressed",
    names.UNSUBSCRIBED: _unsubscribed,
    names.RESUBSCRIBED: _resubscribed,
    names.SEGMENT_JOINED: _segment("Joined"),
    names.SEGMENT_LEFT: _segment("Left"),
}
"""Every event type PenguinMails records itself; any other is a client's (`_custom`)."""
