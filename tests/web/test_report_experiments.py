"""The report's A/B tests, holdout lift, conversions per day and date range, on SQLite and
PostgreSQL: the numbers the analytics API gives equal what the test did (sends per
variant, opens, clicks, payments), and the page draws them as SVG with the same numbers in
tables and the test's state in words."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from sqlalchemy import select

from app.api.openapi import build_document
from app.core import experiments
from app.extensions import db
from app.models import Contact, ContactSequence, OutboundMessage
from app.services import accounts
from app.web.report import lift_words, state_words
from tests.conftest import ApiClient
from tests.report_data import Scenario, pays_on, seed_ab_report
from tests.web.client import Web
from tests.web.test_report import rows, text_of

PASSWORD = "correct-horse-battery"
PEOPLE = 240


@pytest.fixture
def scenario(app: Flask, api: ApiClient) -> Scenario:
    """The A/B-tested, held-out sequence in the API's workspace, its sends six days ago at
    09:00 UTC and payments at noon on the five days after."""
    now = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    workspace = accounts.workspace_named("Acme")
    return seed_ab_report(app, workspace, now, people=PEOPLE)


@pytest.fixture
def web(app: Flask, scenario: Scenario) -> Web:
    accounts.create_user("marketer@acme.test", accounts.workspace_named("Acme"), PASSWORD)
    client = Web(app)
    assert client.sign_in("marketer@acme.test", PASSWORD).status_code == 302
    return client


def sent_by_variant(scenario: Scenario) -> Counter[str]:
    return Counter(
        db.session.scalars(
            select(OutboundMessage.variant_key).where(
                OutboundMessage.sequence_id == scenario.sequence_id,
                OutboundMessage.variant_key.is_not(None),
            )
        )
    )


def engaged(sent: int, share_in_ten: int) -> int:
    """How many of a variant's `sent` messages the scenario engaged with: the nth when
    n % 10 < share_in_ten."""
    return sum(1 for n in range(1, sent + 1) if n % 10 < share_in_ten)


def groups(scenario: Scenario) -> dict[bool, int]:
    found = Counter(
        db.session.scalars(
            select(ContactSequence.holdout).where(
                ContactSequence.sequence_id == scenario.sequence_id
            )
        )
    )
    return {True: found[True], False: found[False]}


def payers(
    scenario: Scenario, first: date | None = None, last: date | None = None
) -> tuple[Counter[bool], Counter[str]]:
    """Who the scenario had pay, by group, when their day lies in [first, last]."""
    held = dict(
        db.session.execute(
            select(ContactSequence.contact_id, ContactSequence.holdout).where(
                ContactSequence.sequence_id == scenario.sequence_id
            )
        ).all()
    )
    assert len(held) == PEOPLE
    found: Counter[bool] = Counter()
    days: Counter[str] = Counter()
    for person in db.session.scalars(select(Contact).where(Contact.id.in_(list(held)))):
        n = int(re.fullmatch(r"person(\d+)@example.com", person.email).group(1))
        offset = pays_on(n, held[person.id])
        if offset is None:
            continue
        day = (scenario.start + timedelta(days=offset, hours=3)).date()
        if (first is None or day >= first) and (last is None or day <= last):
            found[held[person.id]] += 1
            days[day.isoformat()] += 1
    return found, days


def test_each_variant_counts_its_sends_opens_and_clicks_and_the_test_names_b_the_winner(
    app: Flask, api: ApiClient, scenario: Scenario
):
    sent = sent_by_variant(scenario)
    assert sum(sent.values()) == groups(scenario)[False]  # the holdout got no email

    stats = api.get(f"/api/sequences/{scenario.sequence_id}/analytics")

    assert stats.status_code == 200
    [email_1] = [s for s in stats.json["steps"] if s["step"] == "email_1"]
    variants = {v["key"]: v for v in email_1["variants"]}
    assert list(variants) == ["A", "B"]
    for key, clicks in (("A", 1), ("B", 3)):
        v = variants[key]
        assert v["weight"] == 50
        assert v["sent"] == sent[key]
        assert v["opened"] == engaged(sent[key], 5)
        assert v["clicked"] == engaged(sent[key], clicks)
        assert v["click_rate"] == round(v["clicked"] / v["sent"], 4)
        low, high = experiments.interval(v["clicked"], v["sent"], 0.95)
        assert v["intervals"]["click_rate"] == [round(low, 4), round(high, 4)]
    test = email_1["ab_test"]
    assert (test["state"], test["winner"], test["decided_by"]) == ("decided", "B", "auto")
    assert test["metric"] == "click_rate" and test["min_sends"] == 50
    assert datetime.fromisoformat(test["decided_at"]) == scenario.start + timedelta(
        days=2, minutes=1
    )
    assert test["figures"]["p_value"] < 0.05 and test["progress"] is None
    assert [f["sent"] for f in test["figures"]["variants"]] == [sent["A"], sent["B"]]


def test_the_holdout_counts_both_groups_and_their_lift_on_each_goal(
    app: Flask, api: ApiClient, scenario: Scenario
):
    members = groups(scenario)
    paid, _ = payers(scenario)

    holdout = api.get(f"/api/sequences/{scenario.sequence_id}/analytics").json["holdout"]

    assert holdout["percent"] == 20
    assert holdout["enrolled"] == {"treated": members[False], "holdout": members[True]}
    assert 0.1 * PEOPLE < members[True] < 0.3 * PEOPLE
    converted = {"treated": paid[False], "holdout": paid[True]}
    assert holdout["converted"] == converted
    expected = experiments.lift((paid[False], members[False]), (paid[True], members[True]))
    assert holdout["lift"] == expected
    assert holdout["goals"] == {"Paid": {"converted": converted, "lift": expected}}


@pytest.mark.local_time  # a date range and conversions per UTC day
def test_the_date_range_keeps_the_sends_enrollments_and_conversions_inside_it(
    app: Flask, api: ApiClient, scenario: Scenario
):
    url = f"/api/sequences/{scenario.sequence_id}/analytics"
    sent = sent_by_variant(scenario)
    first_day = scenario.start.date()
    later = first_day + timedelta(days=1)
    last = first_day + timedelta(days=3)
    _, days = payers(scenario)
    _, within = payers(scenario, later, last)

    whole = api.get(url).json
    sending_day = api.get(f"{url}?from={first_day}&to={first_day}").json
    after = api.get(f"{url}?from={later}&to={last}").json

    assert [d["day"] for d in whole["conversions"]["by_day"]] == sorted(days)
    assert {d["day"]: d["goals"]["Paid"] for d in whole["conversions"]["by_day"]} == days
    assert sending_day["summary"]["emails_sent"] == sum(sent.values())
    assert sending_day["summary"]["enrolled"] == PEOPLE
    assert sending_day["conversions"]["total"] == 0
    assert after["summary"]["emails_sent"] == 0 and after["summary"]["enrolled"] == 0
    assert {d["day"]: d["total"] for d in after["conversions"]["by_day"]} == within
    assert after["conversions"]["total"] == sum(within.values()) > 0
    [email_1] = [s for s in after["steps"] if s["step"] == "email_1"]
    assert [v["sent"] for v in email_1["variants"]] == [0, 0]
    assert email_1["ab_test"]["state"] == "decided"  # a decision does not depend on the range
    assert after["period"] == {
        "since": f"{later}T00:00:00+00:00",
        "until": f"{last + timedelta(days=1)}T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13-01", "from"),
        ("from=7.12.2026", "from"),
        ("to=2026-02-30", "to"),
        ("from=2026-12-07&to=2026-12-01", "to"),
    ],
)
@pytest.mark.local_time  # dates parsed from the query
def test_a_bad_date_is_refused_naming_the_parameter(
    app: Flask, api: ApiClient, web: Web, scenario: Scenario, query: str, field: str
):
    answer = api.get(f"/api/sequences/{scenario.sequence_id}/analytics?{query}")
    assert answer.status_code == 400
    assert answer.json["error"]["field"] == field
    assert field in answer.json["error"]["message"]
    page = web.get(f"/sequences/{scenario.sequence_id}/report?{query}")
    assert page.status_code == 400
    assert 'id="report-filter-error"' in page.text and "showing all time" in page.text


def charts(page: str) -> dict[str, str]:
    """Each chart's id -> its accessible name (title and desc), for charts drawn as images."""
    found = {}
    for chart_id, title_id, desc_id, body in re.findall(
        r'<svg class="chart" id="([^"]+)" role="img" [^>]*aria-labelledby="([^" ]+) ([^"]+)"'
        r"[^>]*>(.*?)</svg>",
        page,
        re.S,
    ):
        title = re.search(rf'<title id="{title_id}">(.*?)</title>', body, re.S)
        desc = re.search(rf'<desc id="{desc_id}">(.*?)</desc>', body, re.S)
        assert title and desc, chart_id
        found[chart_id] = text_of(title.group(1)) + " | " + text_of(desc.group(1))
    return found


def test_the_page_draws_the_funnel_variants_conversions_and_lift_with_their_tables(
    app: Flask, api: ApiClient, web: Web, scenario: Scenario
):
    stats = api.get(f"/api/sequences/{scenario.sequence_id}/analytics").json
    [email_1] = [s for s in stats["steps"] if s["step"] == "email_1"]
    a, b = email_1["variants"]
    test = email_1["ab_test"]
    decided = datetime.fromisoformat(test["decided_at"])

    page = web.get(f"/sequences/{scenario.sequence_id}/report")

    assert page.status_code == 200
    text = page.text
    drawn = charts(text)
    assert set(drawn) == {
        "chart-funnel",
        "chart-variants-email_1",
        "chart-conversions",
        "chart-holdout",
    }
    assert drawn["chart-funnel"].startswith("Funnel by step | 3 steps in the order")
    assert drawn["chart-variants-email_1"] == (
        "Welcome email: click rate by variant | The click rate of each variant with its 95% "
        f"interval: A {100 * a['click_rate']:.1f}%; B {100 * b['click_rate']:.1f}%"
    )
    funnel = rows(text, "data-funnel")
    assert list(funnel) == ["email_1", "wait_7d", "email_2"]
    held = stats["holdout"]["enrolled"]["holdout"]
    assert funnel["email_1"] == [
        "Welcome email",
        str(PEOPLE),
        str(a["sent"] + b["sent"]),
        str(held),
        str(a["opened"] + b["opened"]),
        str(a["clicked"] + b["clicked"]),
        "0",
        "0",
        "0",
    ]
    state = re.search(r'<p class="test-state decided" data-col="state">(.*?)</p>', text, re.S)
    p_value = test["figures"]["p_value"]
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"
    decided_rates = {v["key"]: 100 * v["rate"] for v in test["figures"]["variants"]}
    assert state and text_of(state.group(1)) == (
        f"B wins: click rate {decided_rates['B']:.1f}% vs {decided_rates['A']:.1f}%, "
        f"{p_text}, decided {decided.day} {decided:%b %H:%M} UTC"
    )
    variants = rows(text, "data-variant")
    assert variants["B"][:3] == ["B winner", "50", str(b["sent"])]
    assert variants["A"][4] == f"{a['clicked']} ({100 * a['clicked'] / a['sent']:.1f}%)"
    low, high = b["intervals"]["click_rate"]
    assert variants["B"][8] == (
        f"{100 * b['click_rate']:.1f}% ({100 * low:.1f}% \N{EN DASH} {100 * high:.1f}%)"
    )
    days = rows(text, "data-day")
    assert {day: cells[-1] for day, cells in days.items()} == {
        d["day"]: str(d["total"]) for d in stats["conversions"]["by_day"]
    }
    lift = stats["holdout"]["goals"]["Paid"]["lift"]
    sentence = re.search(r'data-lift="Paid">(.*?)</p>', text, re.S)
    assert sentence and text_of(sentence.group(1)) == lift_words("Paid", lift, 20)
    assert re.fullmatch(
        r"Sequence lift on Paid: [+-]\d+\.\d points \(95% CI [+-]\d+\.\d to [+-]\d+\.\d\) "
        r"against a 20% holdout",
        lift_words("Paid", lift, 20),
    )
    groups_table = rows(text, "data-group")
    assert groups_table["holdout"][:2] == ["Holdout (no emails)", str(held)]


def test_the_filter_form_keeps_the_range_and_says_what_it_shows(
    app: Flask, web: Web, scenario: Scenario
):
    day = scenario.start.date() + timedelta(days=1)
    page = web.get(f"/sequences/{scenario.sequence_id}/report?from={day}&to={day}").text
    assert f'name="from" value="{day}"' in page and f'name="to" value="{day}"' in page
    period = re.search(r'id="report-period">(.*?)</span>', page, re.S)
    assert period and text_of(period.group(1)) == (
        f"Showing {day:%d %b %Y} to {day:%d %b %Y} (UTC days)"
    )
    assert rows(page, "data-funnel")["email_1"][1:3] == ["0", "0"]


def words_for(**test: Any) -> str:
    base = {"figures": {}, "decided_at": None, "progress": None, "metric": "click_rate"}
    return state_words(base | test)


def test_a_test_in_progress_or_stopped_is_said_in_words():
    assert (
        words_for(state="collecting", progress={"sent": 120, "needed": 200})
        == "Collecting: 120/200 sends per variant"
    )
    assert (
        words_for(
            state="collecting", progress={"sent": 200, "needed": 200}, figures={"p_value": 0.21}
        )
        == "Collecting: 200/200 sends per variant, no clear winner yet (p = 0.210)"
    )
    stopped = "2026-12-07T14:00:00+00:00"
    assert (
        words_for(state="stopped", decided_by="hand", decided_at=stopped)
        == "Stopped by hand, sends stay split (since 7 Dec 14:00 UTC)"
    )
    figures = {"variants": [{"key": "A", "rate": 0.043}, {"key": "B", "rate": 0.081}]}
    assert (
        words_for(
            state="decided",
            winner="B",
            decided_by="auto",
            decided_at=stopped,
            figures=figures | {"p_value": 0.003},
        )
        == "B wins: click rate 8.1% vs 4.3%, p = 0.003, decided 7 Dec 14:00 UTC"
    )
    assert (
        words_for(
            state="decided", winner="A", decided_by="hand", decided_at=stopped, figures=figures
        )
        == "A picked by hand: click rate 4.3% vs 8.1%, decided 7 Dec 14:00 UTC"
    )


def test_the_answer_with_variants_a_decision_and_a_holdout_matches_the_documented_schema(
    app: Flask, api: ApiClient, scenario: Scenario
):
    document = build_document()
    schema = {"$ref": "#/components/schemas/Analytics", "components": document["components"]}
    for query in ("", f"?from={scenario.start.date()}&to={scenario.start.date()}"):
        answer = api.get(f"/api/sequences/{scenario.sequence_id}/analytics{query}").json
        assert list(Draft202012Validator(schema).iter_errors(answer)) == []
