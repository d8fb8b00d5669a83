"""Services read configuration from one place: typed settings built from the Flask config."""

from __future__ import annotations

import ast
from dataclasses import fields, replace

from app.config import FLASK_KEYS, Settings, SettingsFlask, current_settings
from tests.helpers import ROOT


def reads_of_the_flask_config(path) -> list[int]:
    """Lines where a module reads `current_app.config` (attribute access, any spelling)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute)
        and node.attr == "config"
        and isinstance(node.value, ast.Name)
        and node.value.id == "current_app"
    ]


def test_no_service_reads_current_app_config():
    found = {
        path.name: lines
        for path in sorted((ROOT / "app" / "services").rglob("*.py"))
        if (lines := reads_of_the_flask_config(path))
    }
    assert found == {}, f"read current_settings() instead: {found}"


def test_every_setting_has_exactly_one_flask_config_key():
    assert list(FLASK_KEYS) == [f.name for f in fields(Settings)]
    assert len(set(FLASK_KEYS.values())) == len(FLASK_KEYS)


def test_settings_survive_the_trip_through_the_flask_config():
    custom = Settings(
        database_url="postgresql+psycopg://db/pm",
        redis_url="redis://cache:6379/0",
        smtp_url="smtps://mail:465",
        base_url="https://pm.example",
        secret_key="s3cret",
        embedded_scheduler=False,
        default_from_email="hello@pm.example",
        processor_batch_size=7,
        dispatch_batch_size=8,
        bot_click_seconds=9,
        tracking_dedup_seconds=10,
        proxy_hops=2,
        dispatch_lease_seconds=11,
        render_timeout_seconds=0.5,
        render_max_bytes=12,
        sign_in_account_limit="1 per minute",
        sign_in_address_limit="2 per minute",
        max_request_bytes=13,
        max_import_request_bytes=14,
        max_form_memory_bytes=15,
        max_form_parts=16,
        max_json_depth=17,
    )
    assert Settings.from_flask_config(custom.flask_config()) == custom


def test_each_setting_is_read_from_the_environment_variable_the_readme_documents(monkeypatch):
    documented = {
        "DATABASE_URL": "postgresql://db/pm",
        "REDIS_URL": "redis://cache:6379/0",
        "SMTP_URL": "smtps://mail:465",
        "BASE_URL": "https://pm.example/",
        "SECRET_KEY": "s3cret",
        "EMBEDDED_SCHEDULER": "off",
        "DEFAULT_FROM_EMAIL": "hello@pm.example",
        "PROCESSOR_BATCH_SIZE": "7",
        "DISPATCH_BATCH_SIZE": "8",
        "BOT_CLICK_SECONDS": "0",
        "TRACKING_DEDUP_SECONDS": "10",
        "PROXY_HOPS": "2",
        "DISPATCH_LEASE_SECONDS": "11",
        "SMTP_CONNECTIONS": "6",
        "CALL_BATCH_SIZE": "3",
        "CALL_LEASE_SECONDS": "30",
        "WEBHOOK_ALLOW_PRIVATE": "1",
        "RENDER_TIMEOUT_SECONDS": "0.5",
        "RENDER_MAX_BYTES": "12",
        "SIGN_IN_ACCOUNT_LIMIT": "1 per minute",
        "SIGN_IN_ADDRESS_LIMIT": "2 per minute",
        "MAX_REQUEST_BYTES": "13",
        "MAX_IMPORT_REQUEST_BYTES": "14",
        "MAX_FORM_MEMORY_BYTES": "15",
        "MAX_FORM_PARTS": "16",
        "MAX_JSON_DEPTH": "17",
    }
    for name, value in documented.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.base_url, settings.embedded_scheduler, settings.bot_click_seconds) == (
        "https://pm.example",
        False,
        0,
    )
    assert (settings.render_timeout_seconds, settings.max_json_depth) == (0.5, 17)
    assert settings.database_url == "postgresql://db/pm"
    changed = {
        f.name for f in fields(Settings) if getattr(settings, f.name) != getattr(Settings(), f.name)
    }
    assert changed == {name.lower() for name in documented}


def test_an_empty_environment_variable_keeps_the_default(monkeypatch):
    monkeypatch.setenv("DISPATCH_BATCH_SIZE", "")
    monkeypatch.setenv("EMBEDDED_SCHEDULER", "")
    settings = Settings.from_env()
    assert (settings.dispatch_batch_size, settings.embedded_scheduler) == (200, True)


def test_a_config_key_left_out_keeps_its_default_and_an_unset_number_means_off():
    settings = Settings.from_flask_config({"BOT_CLICK_SECONDS": None, "BASE_URL": "http://x"})
    assert settings == replace(Settings(), bot_click_seconds=0, base_url="http://x")


def test_services_see_a_config_change_made_while_the_app_runs():
    app = SettingsFlask("settings")
    app.config.update(Settings(tracking_dedup_seconds=60).flask_config())
    with app.app_context():
        assert current_settings().tracking_dedup_seconds == 60
        app.config["TRACKING_DEDUP_SECONDS"] = 0
        assert current_settings().tracking_dedup_seconds == 0
        app.config.update(TRACKING_DEDUP_SECONDS=5)
        assert current_settings().tracking_dedup_seconds == 5
        app.config |= {"TRACKING_DEDUP_SECONDS": 6}
        assert current_settings().tracking_dedup_seconds == 6
        app.config.pop("TRACKING_DEDUP_SECONDS")
        assert current_settings().tracking_dedup_seconds == 60  # left out: the default
        app.config.setdefault("TRACKING_DEDUP_SECONDS", 7)
        assert current_settings().tracking_dedup_seconds == 7
        del app.config["TRACKING_DEDUP_SECONDS"]
        assert current_settings().tracking_dedup_seconds == 60
        app.config.from_mapping(TRACKING_DEDUP_SECONDS=8)
        assert current_settings().tracking_dedup_seconds == 8
