"""Fixtures for the mail building blocks, which need neither the app nor a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.smtp_sink import SmtpSink, running_sink


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A plain SMTP server on 127.0.0.1 (here without the app that tests/conftest.py binds)."""
    yield from running_sink()
