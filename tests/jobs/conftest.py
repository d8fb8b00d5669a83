"""A clean Redis database for each worker-mode test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.conftest import REDIS_URL, unavailable


@pytest.fixture
def redis_conn() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL)
    try:
        conn.ping()
    except redis.RedisError as exc:
        unavailable("Redis", exc)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()
