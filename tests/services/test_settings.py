"""Services read configuration from one place: typed settings built from the Flask config."""

from __future__ import annotations

import ast
from dataclasses import fields, replace

from flask import Flask

from app.config import FLASK_KEYS, Settings, current_settings
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


def test_a_config_key_left_out_keeps_its_default_and_an_unset_number_means_off():
    settings = Settings.from_flask_config({"BOT_CLICK_SECONDS": None, "BASE_URL": "http://x"})
    assert settings == replace(Settings(), bot_click_seconds=0, base_url="http://x")


def test_services_see_a_config_change_made_while_the_app_runs():
    app = Flask("settings")
    app.config.update(Settings(tracking_dedup_seconds=60).flask_config())
    with app.app_context():
        assert current_settings().tracking_dedup_seconds == 60
        app.config["TRACKING_DEDUP_SECONDS"] = 0
        assert current_settings().tracking_dedup_seconds == 0
