"""The names of the events PenguinMails records about contacts, in one place.

Waits, goals, the events API and the services that record events all spell them from here,
so a rename or a new system event cannot leave one of them behind.
"""

from __future__ import annotations

FIELD_CHANGED = "field_changed"
"""A contact value changed: properties `field`, `from`, `to`."""
FORM_SUBMITTED = "form_submitted"
OPENED = "opened"
CLICKED_LINK = "clicked_link"
BOT_CLICK = "bot_click"
"""A click by a link scanner: recorded, but never a real click."""
MACHINE_OPEN = "machine_open"
"""An open by a mail client's privacy proxy prefetching images (Apple Mail Privacy
Protection), not by the recipient: recorded, never an open."""
PAGE_VIEWED = "page_viewed"
REPLIED = "replied"
AUTO_REPLY = "auto_reply"
BOUNCED = "bounced"
"""A permanent delivery failure (a hard bounce): the address is suppressed."""
SOFT_BOUNCED = "soft_bounced"
"""A temporary delivery failure reported by a provider: counted, nothing suppressed."""
COMPLAINED = "complained"
"""The recipient marked the email as spam (a feedback-loop report): the address is suppressed."""
UNSUBSCRIBED = "unsubscribed"
RESUBSCRIBED = "resubscribed"
"""A user lifted a contact's unsubscribe or suppression by hand: properties `by` and
`suppressed_for` (the list's reason, or None)."""
SEGMENT_JOINED = "segment_joined"
SEGMENT_LEFT = "segment_left"

EMAIL_EVENTS = (OPENED, CLICKED_LINK, REPLIED, BOUNCED)
"""What a contact does with a sent email; a wait on one of these may be tied to a step.
In this order in the format's error messages ("expected 'opened', 'clicked_link', ...")."""
URL_EVENTS = (PAGE_VIEWED, CLICKED_LINK)
"""Events carrying a `url` property, which a URL goal matches."""
UNCOUNTED = frozenset({BOT_CLICK, MACHINE_OPEN})
"""Recorded for the record only: no wait wakes and no goal or segment reacts to them."""
RESERVED = frozenset(
    {
        FIELD_CHANGED,
        OPENED,
        CLICKED_LINK,
        REPLIED,
        BOUNCED,
        SOFT_BOUNCED,
        COMPLAINED,
        UNSUBSCRIBED,
        RESUBSCRIBED,
    }
)
"""Event types this system records itself; accepting them from clients would let anyone
fake a field change or an email click that a waiting step listens for."""
