"""The enrollments list's one filter: parsed from query parameters, scoped to a workspace,
and paged by key so that every matching row is on exactly one page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import Contact, ContactSequence
from app.services import accounts
from app.services import enrollment_query as query
from app.services.enrollment_query import EnrollmentFilter, FilterError
from tests.enrollment_rows import enroll_many, seed_sequences

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def all_pages(workspace_id, flt, limit):
    """Every page forwards, then every page backwards from the last; the ids seen."""
    forward, pages, cursor = [], [], None
    while True:
        page = query.page(workspace_id, flt, NOW, cursor, limit)
        pages.append(page)
        forward += [row.ContactSequence.id for row in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    backward, cursor = [], pages[-1].prev_cursor
    backward_pages = [pages[-1]]
    while cursor is not None:
        page = query.page(workspace_id, flt, NOW, cursor, limit)
        backward_pages.append(page)
        cursor = page.prev_cursor
    for page in reversed(backward_pages):
        backward += [row.ContactSequence.id for row in page.rows]
    return forward, backward


def ids_where(workspace_id, flt):
    return set(db.session.scalars(query.matching_ids(workspace_id, flt, NOW)))


@pytest.fixture
def acme(app):
    workspace = accounts.create_workspace("Acme")
    seeded = seed_sequences(workspace, 3)
    return seeded, enroll_many(seeded, 60, NOW)


@pytest.mark.parametrize("same_time", [False, True], ids=["spread", "same-enrolled-at"])
def test_paging_through_2000_enrollments_by_50_shows_each_exactly_once(app, same_time):
    seeded = seed_sequences(accounts.create_workspace("Acme"), 3)
    ids = enroll_many(seeded, 2000, NOW, same_time=same_time)
    forward, backward = all_pages(seeded.workspace.id, EnrollmentFilter(), 50)
    assert len(forward) == 2000 and set(forward) == set(ids)
    assert backward == forward
    if not same_time:
        assert forward == ids  # enrolled an hour apart backwards: newest first


def test_paging_one_step_of_one_sequence_lists_exactly_its_rows(app):
    seeded = seed_sequences(accounts.create_workspace("Acme"), 3)
    enroll_many(seeded, 2000, NOW, same_time=True)
    sequence = seeded.sequences[1]
    step = seeded.steps[sequence.id][0]
    flt = EnrollmentFilter(sequence_id=sequence.id, step=step)
    forward, backward = all_pages(seeded.workspace.id, flt, 50)
    expected = set(
        db.session.scalars(
            db.select(ContactSequence.id).where(ContactSequence.current_step_id == step)
        )
    )
    assert len(forward) == len(set(forward)) == len(expected) > 50
    assert set(forward) == expected and backward == forward


def test_each_filter_selects_only_its_rows(app, acme):
    seeded, _ids = acme
    ws = seeded.workspace.id
    rows = {r.id: r for r in db.session.scalars(db.select(ContactSequence))}
    emails = dict(db.session.execute(db.select(Contact.id, Contact.email)).all())
    sequence, step = seeded.sequences[0], seeded.steps[seeded.sequences[0].id][2]
    day = datetime(2026, 12, 5, tzinfo=UTC)
    cases = {
        EnrollmentFilter(sequence_id=sequence.id): lambda r: r.sequence_id == sequence.id,
        EnrollmentFilter(version=2): lambda r: r.version == 2,
        EnrollmentFilter(status="paused"): lambda r: r.status == "paused",
        EnrollmentFilter(step=step): lambda r: r.current_step_id == step,
        EnrollmentFilter(started_from=day, started_to=day + timedelta(days=1)): lambda r: (
            day <= r.enrolled_at < day + timedelta(days=1)
        ),
        EnrollmentFilter(ended_from=NOW): lambda r: (
            r.finished_at is not None and r.finished_at >= NOW
        ),
        EnrollmentFilter(reason="GOAL reached #3"): lambda r: (r.exit_reason or "").endswith("#3"),
        EnrollmentFilter(reason="segment new"): lambda r: "segment" in r.enroll_reason,
        EnrollmentFilter(contact="n1"): lambda r: emails[r.contact_id].startswith("n1"),
        EnrollmentFilter(contact="NAME12"): lambda r: emails[r.contact_id].startswith("n12"),
    }
    for flt, wanted in cases.items():
        expected = {i for i, r in rows.items() if wanted(r)}
        assert expected and expected != set(rows), flt
        assert ids_where(ws, flt) == expected, flt
        assert query.count(ws, flt, NOW) == len(expected), flt


def test_stuck_lists_active_enrollments_due_longer_than_the_threshold(app, acme):
    seeded, ids = acme
    late, recent, paused = ids[0], ids[1], ids[4]  # active, active, paused
    db.session.execute(db.update(ContactSequence).values(next_execution_at=NOW + timedelta(days=1)))
    db.session.execute(
        db.update(ContactSequence)
        .where(ContactSequence.id.in_([late, paused]))
        .values(next_execution_at=NOW - timedelta(hours=1))
    )
    db.session.execute(
        db.update(ContactSequence)
        .where(ContactSequence.id == recent)
        .values(next_execution_at=NOW - timedelta(minutes=1))
    )
    db.session.commit()
    assert ids_where(seeded.workspace.id, EnrollmentFilter(stuck=True)) == {late}


def test_reason_and_contact_search_treat_percent_and_underscore_literally(app, acme):
    seeded, _ids = acme
    ws = seeded.workspace.id
    assert ids_where(ws, EnrollmentFilter(reason="%")) == set()
    assert ids_where(ws, EnrollmentFilter(contact="_")) == set()


def test_another_workspaces_enrollments_are_never_selected(app, acme):
    seeded, ids = acme
    globex = seed_sequences(accounts.create_workspace("Globex"), 1, prefix="Theirs")
    theirs = enroll_many(globex, 30, NOW, domain="globex.test")
    forward, _ = all_pages(seeded.workspace.id, EnrollmentFilter(), 7)
    assert set(forward) == set(ids)
    foreign = EnrollmentFilter(sequence_id=globex.sequences[0].id)
    assert ids_where(seeded.workspace.id, foreign) == set()
    assert query.unknown_reference(seeded.workspace.id, foreign) == "sequence_id"
    foreign_step = EnrollmentFilter(step=globex.steps[globex.sequences[0].id][0])
    assert query.unknown_reference(seeded.workspace.id, foreign_step) == "step"
    assert query.unknown_reference(globex.workspace.id, foreign) is None
    assert query.count(globex.workspace.id, EnrollmentFilter(), NOW) == len(theirs)


def test_counts_per_status_follow_the_rest_of_the_filter(app, acme):
    seeded, _ids = acme
    sequence = seeded.sequences[0]
    flt = EnrollmentFilter(sequence_id=sequence.id, status="failed")
    counts = query.status_counts(seeded.workspace.id, flt, NOW)
    # 60 rows; sequence 1 has n % 3 == 0, so n % 6 is 0 (active) or 3 (exited).
    assert counts == {"active": 10, "completed": 0, "exited": 10, "paused": 0, "failed": 0}


def test_counts_stop_just_past_the_cap(app, acme, monkeypatch):
    seeded, _ids = acme
    monkeypatch.setattr(query, "COUNT_CAP", 25)
    assert query.count(seeded.workspace.id, EnrollmentFilter(), NOW) == 26
    assert query.status_counts(seeded.workspace.id, EnrollmentFilter(), NOW)["active"] == 20


def test_filters_round_trip_through_their_query_parameters():
    flt = EnrollmentFilter(
        sequence_id=uuid.uuid4(),
        version=3,
        status="active",
        step=uuid.uuid4(),
        started_from=datetime(2026, 12, 1, tzinfo=UTC),
        started_to=datetime(2026, 12, 3, 14, 30, tzinfo=UTC),
        ended_from=datetime(2026, 12, 2, tzinfo=UTC),
        ended_to=datetime(2026, 12, 4, tzinfo=UTC),
        reason="goal",
        contact="ann smith",
        stuck=True,
    )
    args = flt.to_args()
    assert args["started_after"] == "2026-12-01"
    assert args["started_before"] == "2026-12-03T14:30:00+00:00"
    assert query.parse(args) == flt
    assert query.parse({}) == EnrollmentFilter() and EnrollmentFilter().to_args() == {}


def test_blank_parameters_are_no_filter_and_the_report_s_sequence_link_is_read():
    sequence_id = uuid.uuid4()
    assert query.parse({"status": "", "reason": "  ", "stuck": ""}) == EnrollmentFilter()
    assert query.parse({"sequence": str(sequence_id)}).sequence_id == sequence_id
    assert query.parse({"started_after": "2026-12-01T10:00:00"}).started_from == datetime(
        2026, 12, 1, 10, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"sequence_id": "nope"}, "sequence_id"),
        ({"sequence": "nope"}, "sequence"),
        ({"step": "12"}, "step"),
        ({"version": "0"}, "version"),
        ({"version": "two"}, "version"),
        ({"status": "sleeping"}, "status"),
        ({"started_after": "2026-13-01"}, "started_after"),
        ({"ended_before": "yesterday"}, "ended_before"),
        ({"started_after": "2026-12-02", "started_before": "2026-12-01"}, "started_before"),
        ({"reason": "x" * 201}, "reason"),
        ({"stuck": "maybe"}, "stuck"),
    ],
)
def test_a_bad_value_is_refused_naming_its_parameter(args, field):
    with pytest.raises(FilterError) as refused:
        query.parse(args)
    assert refused.value.field == field


def test_a_cursor_the_list_did_not_give_out_is_refused(app, acme):
    seeded, _ids = acme
    with pytest.raises(FilterError) as refused:
        query.page(seeded.workspace.id, EnrollmentFilter(), NOW, "garbage!", 50)
    assert refused.value.field == "cursor"
