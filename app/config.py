"""Settings read from the environment, with defaults that let a newcomer run the app as-is."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-secret-change-me"
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def default_database_url() -> str:
    """A SQLite file under instance/, so the embedded mode needs no server."""
    return f"sqlite:///{INSTANCE_DIR / 'penguinmails.sqlite3'}"


@dataclass
class Settings:
    """Everything the app reads from its environment, in one place."""

    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    secret_key: str = DEV_SECRET_KEY
    embedded_scheduler: bool = True
    default_from_email: str = "sequences@penguinmails.localhost"
    processor_batch_size: int = 1000
    dispatch_batch_size: int = 200
    bot_click_seconds: int = 5  # a click this soon after the send is a scanner; 0 disables
    tracking_dedup_seconds: int = 60  # repeat opens/clicks by one client within this are dropped
    proxy_hops: int = 0  # reverse proxies in front of the app whose X-Forwarded-* to trust
    # Crash-safe dispatch: how long a dispatcher holds the messages it claimed (and the one it
    # is sending) before recovery may requeue them (never handed over) or mark them unknown.
    dispatch_lease_seconds: int = 300
    # Outside calls (webhook steps): how many one delivery pass claims, how long it holds
    # each before another pass may take it over, and whether private, loopback and other
    # non-public addresses may be called (off in production; the tests' receiver needs it).
    call_batch_size: int = 50
    call_lease_seconds: int = 60
    webhook_allow_private: bool = False
    # Rendering with limits: the budget of one message's templates (send, test send, preview).
    render_timeout_seconds: float = 2.0  # CPU seconds
    render_max_bytes: int = 1_000_000  # subject, HTML and text together
    # Accounts and sessions: failed sign-ins allowed per account (normalised email) and per
    # client address; counted in Redis when REDIS_URL is set, else in this process's memory.
    sign_in_account_limit: str = "5 per 15 minutes"
    sign_in_address_limit: str = "20 per 15 minutes"
    # Request limits, enforced by the HTTP layer (app/http) before a view runs.
    max_request_bytes: int = 2 * 2**20  # any request body; larger is 413
    max_import_request_bytes: int = 21 * 2**20  # the CSV and sequence file imports
    max_form_memory_bytes: int = 500_000  # one form field held in memory
    max_form_parts: int = 1000  # fields and files in one form
    max_json_depth: int = 64  # nesting of arrays and objects in a JSON body

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or default_database_url(),
            redis_url=os.environ.get("REDIS_URL") or None,
            smtp_url=os.environ.get("SMTP_URL") or None,
            base_url=(os.environ.get("BASE_URL") or cls.base_url).rstrip("/"),
            secret_key=os.environ.get("SECRET_KEY") or cls.secret_key,
            embedded_scheduler=_env_flag("EMBEDDED_SCHEDULER", True),
            default_from_email=os.environ.get("DEFAULT_FROM_EMAIL") or cls.default_from_email,
            processor_batch_size=int(os.environ.get("PROCESSOR_BATCH_SIZE") or 1000),
            dispatch_batch_size=int(os.environ.get("DISPATCH_BATCH_SIZE") or 200),
            bot_click_seconds=int(os.environ.get("BOT_CLICK_SECONDS") or 5),
            tracking_dedup_seconds=int(os.environ.get("TRACKING_DEDUP_SECONDS") or 60),
            proxy_hops=int(os.environ.get("PROXY_HOPS") or 0),
            dispatch_lease_seconds=int(os.environ.get("DISPATCH_LEASE_SECONDS") or 300),
            call_batch_size=int(os.environ.get("CALL_BATCH_SIZE") or 50),
            call_lease_seconds=int(os.environ.get("CALL_LEASE_SECONDS") or 60),
            webhook_allow_private=_env_flag("WEBHOOK_ALLOW_PRIVATE", False),
            render_timeout_seconds=float(os.environ.get("RENDER_TIMEOUT_SECONDS") or 2.0),
            render_max_bytes=int(os.environ.get("RENDER_MAX_BYTES") or 1_000_000),
            sign_in_account_limit=os.environ.get("SIGN_IN_ACCOUNT_LIMIT")
            or cls.sign_in_account_limit,
            sign_in_address_limit=os.environ.get("SIGN_IN_ADDRESS_LIMIT")
            or cls.sign_in_address_limit,
            max_request_bytes=int(os.environ.get("MAX_REQUEST_BYTES") or 2 * 2**20),
            max_import_request_bytes=int(os.environ.get("MAX_IMPORT_REQUEST_BYTES") or 21 * 2**20),
            max_form_memory_bytes=int(os.environ.get("MAX_FORM_MEMORY_BYTES") or 500_000),
            max_form_parts=int(os.environ.get("MAX_FORM_PARTS") or 1000),
            max_json_depth=int(os.environ.get("MAX_JSON_DEPTH") or 64),
        )

    def flask_config(self) -> dict[str, Any]:
        """The Flask config keys these settings become."""
        return {
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(self.database_url),
            "REDIS_URL": self.redis_url,
            "SMTP_URL": self.smtp_url,
            "BASE_URL": self.base_url,
            "SECRET_KEY": self.secret_key,
            "EMBEDDED_SCHEDULER": self.embedded_scheduler and not self.redis_url,
            "DEFAULT_FROM_EMAIL": self.default_from_email,
            "PROCESSOR_BATCH_SIZE": self.processor_batch_size,
            "DISPATCH_BATCH_SIZE": self.dispatch_batch_size,
            "BOT_CLICK_SECONDS": self.bot_click_seconds,
            "TRACKING_DEDUP_SECONDS": self.tracking_dedup_seconds,
            "PROXY_HOPS": self.proxy_hops,
            "DISPATCH_LEASE_SECONDS": self.dispatch_lease_seconds,
            "CALL_BATCH_SIZE": self.call_batch_size,
            "CALL_LEASE_SECONDS": self.call_lease_seconds,
            "WEBHOOK_ALLOW_PRIVATE": self.webhook_allow_private,
            "RENDER_TIMEOUT_SECONDS": self.render_timeout_seconds,
            "RENDER_MAX_BYTES": self.render_max_bytes,
            "SIGN_IN_ACCOUNT_LIMIT": self.sign_in_account_limit,
            "SIGN_IN_ADDRESS_LIMIT": self.sign_in_address_limit,
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "MAX_IMPORT_REQUEST_BYTES": self.max_import_request_bytes,
            "MAX_FORM_MEMORY_SIZE": self.max_form_memory_bytes,
            "MAX_FORM_PARTS": self.max_form_parts,
            "MAX_JSON_DEPTH": self.max_json_depth,
        }


def normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and route them to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(url: str) -> dict[str, Any]:
    """SQLite needs a busy timeout so the scheduler thread and web requests can share it."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}
