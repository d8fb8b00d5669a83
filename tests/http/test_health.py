"""/healthz says the process serves; /readyz says whether the database and Redis answer,
naming the one that does not (503), without a session or a token."""

from __future__ import annotations

from tests.conftest import REDIS_URL, Backend, make_app


def test_healthz_answers_without_a_session_or_the_database(app, tmp_path):
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}
    broken = broken_database_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    assert broken.test_client().get("/healthz").status_code == 200


def test_readyz_is_ready_when_the_database_answers_and_redis_is_not_used(app):
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not used"},
        "lag": {"enrollments_seconds": 0.0, "messages_seconds": 0.0},
    }


def test_readyz_checks_redis_when_it_is_configured(app):
    app.config["REDIS_URL"] = REDIS_URL
    assert app.test_client().get("/readyz").get_json()["checks"]["redis"] == "ok"
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"] == {"database": "ok", "redis": "unavailable"}


def test_readyz_is_503_naming_the_database_when_it_does_not_answer(app, tmp_path):
    broken = broken_database_app(f"sqlite:///{tmp_path}/missing/dir/db.sqlite3")
    answer = broken.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "not ready",
        "checks": {"database": "unavailable", "redis": "not used"},
        "lag": None,
    }


def broken_database_app(database_url: str):
    """Another app like `app` whose database cannot be opened."""
    return make_app(Backend("sqlite", database_url))
