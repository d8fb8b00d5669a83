"""Every email of the five shipped templates, sent by the real dispatcher to a real SMTP
server and scored by SpamAssassin (`spamassassin -L -t`: local rules only, as a receiving
filter without network tests would): each scores below 1.0 and carries List-Id.

Skipped locally when the `spamassassin` binary is absent; in CI (`.ci/run` installs it) a
missing binary fails the test instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage, SequenceStep
from app.services import accounts, contacts, enrollment, sequences
from app.services.dispatcher import dispatch_due
from tests.conftest import unavailable
from tests.queue_emails import queue_every_email
from tests.smtp_sink import SmtpSink, running_sink

GALLERY = Path(__file__).resolve().parents[2] / "app" / "gallery"
TEMPLATES = sorted(path.stem for path in GALLERY.glob("*.yaml"))
MAX_SCORE = 1.0
NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # a Monday afternoon
SCORE = re.compile(rb"^Content analysis details:\s+\(([-\d.]+) points", re.MULTILINE)

PEOPLE = {
    "cold_outreach": {"email": "jordan.lee@brightpath-logistics.com", "first_name": "Jordan",
                      "last_name": "Lee", "fields": {"company": "BrightPath Logistics"}},
    "new_user_onboarding": {"email": "priya.nair@gmail.com", "first_name": "Priya",
                            "last_name": "Nair"},
    "re_engagement": {"email": "tom.becker@outlook.com", "first_name": "Tom",
                      "last_name": "Becker"},
    "saas_trial": {"email": "sofia.rossi@studio-rossi.it", "first_name": "Sofia",
                   "last_name": "Rossi", "fields": {"plan": "trial"}},
    "webinar_promo": {"email": "daniel.okafor@hearthware.io", "first_name": "Daniel",
                      "last_name": "Okafor", "fields": {"company": "Hearthware"}},
}  # fmt: skip


@pytest.fixture
def spamassassin() -> str:
    binary = shutil.which("spamassassin")
    if binary is None:
        unavailable("spamassassin", "install Debian's spamassassin package (.ci/run does)")
    return str(binary)


@pytest.fixture
def sink(pg_app: Flask) -> Iterator[SmtpSink]:
    for found in running_sink():
        pg_app.config["SMTP_URL"] = found.url
        yield found


def score(spamassassin: str, raw: bytes) -> tuple[float, str]:
    """The message's score and the rules that hit, as `spamassassin -L -t` reports them."""
    report = subprocess.run(
        [spamassassin, "-L", "-t"], input=raw, capture_output=True, timeout=120, check=True
    ).stdout
    found = SCORE.search(report)
    assert found, report.decode(errors="replace")[-2000:]
    rules = report[found.end() :].decode(errors="replace")
    hits = re.findall(r"^\s*(-?[\d.]+)\s+([A-Z0-9_]+)", rules, re.MULTILINE)
    return float(found.group(1)), " ".join(f"{name}={points}" for points, name in hits)


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_email_of_the_template_scores_below_one_with_spamassassin(
    pg_app, sink, spamassassin, template
):
    workspace = accounts.create_workspace(f"Gallery {template}")
    workspace.from_email, workspace.from_name = "maya@northwind-mail.com", "Maya from Northwind"
    db.session.commit()
    text = (GALLERY / f"{template}.yaml").read_text(encoding="utf-8")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(text))
    sequences.set_status(sequence, "activate", NOW)
    contact = contacts.upsert_contact(workspace, PEOPLE[template])[0]
    assert enrollment.enroll_contacts(sequence, [contact], NOW).enrolled
    queued = queue_every_email(sequence, contact, NOW)

    dispatch_due(NOW)

    received = sink.wait_for(queued)
    assert len(received) == queued
    scores = []
    for message, raw in zip(received, sink.raw, strict=True):
        step = db.session.scalar(
            select(SequenceStep.name)
            .join(OutboundMessage, OutboundMessage.step_id == SequenceStep.id)
            .where(OutboundMessage.message_id == message["Message-ID"])
        )
        points, rules = score(spamassassin, raw)
        scores.append((step, points, rules))
        print(f"SPAMASSASSIN {template:<20} {step:<32} {points:5.1f}  {rules}")
        assert message["List-Id"] and str(sequence.id) in message["List-Id"]
        text = message.get_body(("plain",)).get_content()
        assert "<" not in text and "&amp;" not in text, f"{step}: markup left in the text part"
    assert [(step, points) for step, points, _ in scores if points >= MAX_SCORE] == []
