"""Per-step analytics count what the engine actually recorded."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import api_for
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import tick


def test_analytics_follow_the_contacts_through_the_steps(app, api):
    seq_id, t0 = start_onboarding(api)
    tick(app, t0)
    stats = api.get(f"/api/sequences/{seq_id}/analytics").json
    by_step = {s["step"]: s for s in stats["steps"]}
    assert stats["enrollments"]["active"] == 3
    assert by_step["email_1"]["taken"] == 3
    assert by_step["email_1"]["emails"]["captured"] == 3
    assert by_step["wait_2d"]["waiting_here"] == 3 and by_step["wait_2d"]["taken"] == 0
    assert by_step["email_2"]["taken"] == 0 and by_step["email_2"]["emails"]["captured"] == 0
    assert stats["flow_order"] == ["email_1", "wait_2d", "email_2", "wait_3d", "email_3"]
    assert (by_step["email_1"]["sent"], by_step["email_1"]["opened"]) == (3, 0)
    assert by_step["email_1"]["open_rate"] == 0.0 and by_step["email_2"]["open_rate"] is None
    assert "sent" not in by_step["wait_2d"]
    assert stats["summary"] == {
        "enrolled": 3,
        "emails_sent": 3,
        "emails_failed": 0,
        "opened": 0,
        "clicked": 0,
        "replied": 0,
        "unsubscribed": 0,
        "bounced": 0,
        "soft_bounced": 0,
        "complained": 0,
        "open_rate": 0.0,
        "click_rate": 0.0,
        "converted": 0,
        "conversion_rate": 0.0,
    }

    tick(app, t0 + timedelta(days=2))
    tick(app, t0 + timedelta(days=5))
    stats = api.get(f"/api/sequences/{seq_id}/analytics").json
    assert stats["enrollments"] == {
        "active": 0,
        "completed": 3,
        "exited": 0,
        "paused": 0,
        "failed": 0,
    }
    assert [s["taken"] for s in stats["steps"]] == [3, 3, 3, 3, 3]
    assert all(s["waiting_here"] == 0 for s in stats["steps"])


def test_another_workspace_cannot_read_the_analytics(app, api):
    seq_id, _ = start_onboarding(api)
    assert api_for(app, "Other").get(f"/api/sequences/{seq_id}/analytics").status_code == 404
