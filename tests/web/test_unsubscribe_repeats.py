"""The public unsubscribe link costs no rows when repeated: the first POST records the
unsubscribe, suppresses the address and ends the enrollments; every repeat finds all of that
done (the event only when `unsubscribed_at` is unset, the suppression ON CONFLICT DO NOTHING,
the enrollment UPDATE only on active ones) and stores nothing."""

from __future__ import annotations

from tests.web.test_forms_pages import row_counts
from tests.web.test_unsubscribe import ONE_CLICK, first_send, request, unsubscribe_events


def test_five_hundred_repeated_unsubscribe_posts_store_no_row_after_the_first(app, api, smtp_sink):
    path, contact, _ = first_send(app, api, smtp_sink)
    assert request(app, "POST", path, data=ONE_CLICK).status_code == 200
    before = row_counts()

    for i in range(500):
        data = ONE_CLICK if i % 2 else {}
        assert request(app, "POST", path, data=data).status_code == 200

    assert row_counts() == before
    assert len(unsubscribe_events(contact)) == 1
