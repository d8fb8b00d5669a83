"""Small helpers shared by tests: load definitions, drive the CLI clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
ONBOARDING = ROOT / "app" / "seed_data" / "onboarding.yaml"


def onboarding_definition() -> dict[str, Any]:
    return yaml.safe_load(ONBOARDING.read_text())


def tick(app: Flask, now: datetime) -> str:
    """Run `flask sequences tick --now ...` exactly as an operator would."""
    result = app.test_cli_runner().invoke(args=["sequences", "tick", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)
