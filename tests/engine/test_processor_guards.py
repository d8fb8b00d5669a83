"""The processor stops instead of spinning when a batch keeps colliding with recorded steps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from app.services import processor


def test_a_batch_that_always_collides_is_raised_after_a_few_tries(app, monkeypatch):
    calls = []

    def colliding(now, batch_size):
        calls.append(now)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    monkeypatch.setattr(processor, "_process_batch", colliding)
    with pytest.raises(IntegrityError):
        processor.process_due(datetime(2026, 12, 7, tzinfo=UTC))
    assert len(calls) == processor.MAX_LOST_RACES + 1
