"""Settings: read from the environment (with defaults that let a newcomer run the app
as-is), kept in the Flask config, and read back typed by `current_settings()`, the one place
services and views get them from."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from flask import Config, Flask, current_app

DEV_SECRET_KEY = "dev-only-secret-change-me"
INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _flag(text: str) -> bool:
    """An environment flag: anything but 0, false, no or off turns it on."""
    return text.strip().lower() not in {"0", "false", "no", "off"}


def default_database_url() -> str:
    """A SQLite file under instance/, so the embedded mode needs no server."""
    return f"sqlite:///{INSTANCE_DIR / 'penguinmails.sqlite3'}"


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, in one place. Services get it from
    `current_settings()`, never from `app.config` directly."""

    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    smtp_url: str | None = None
    base_url: str = "http://127.0.0.1:5000"
    secret_key: str = DEV_SECRET_KEY
    # Secrets at rest (mailbox passwords, provider keys) are sealed with this key, or with
    # one derived from SECRET_KEY when unset; a Fernet key (32 url-safe base64 bytes).
    encryption_key: str | None = None
    embedded_scheduler: bool = True
    default_from_email: str = "sequences@penguinmails.localhost"
    processor_batch_size: int = 1000
    dispatch_batch_size: int = 200
    bot_click_seconds: int = 5  # a click this soon after the send is a scanner; 0 disables
    machine_open_seconds: int = 10  # an open this soon after the send is a proxy's prefetch
    tracking_dedup_seconds: int = 60  # repeat opens/clicks by one client within this are dropped
    proxy_hops: int = 0  # reverse proxies in front of the app whose X-Forwarded-* to trust
    # Crash-safe dispatch: how long a dispatcher holds the messages it claimed (and the one it
    # is sending) before recovery may requeue them (never handed over) or mark them unknown.
    dispatch_lease_seconds: int = 300
    # SMTP connections each dispatcher keeps open and sends over at once (one thread each,
    # for the SMTP round trips only); a crash leaves at most twice this many `unknown`.
    smtp_connections: int = 4
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
    # Deliverability: the DNS server ("host" or "host:port") that checks a sending domain's
    # records, the system's resolver when unset.
    dns_resolver: str | None = None
    # Provider webhooks: the hosts Amazon SNS signing certificates (and subscription
    # confirmations) may come from, space- or comma-separated; `*` stands for one DNS label.
    sns_cert_hosts: str = "sns.*.amazonaws.com sns.*.amazonaws.com.cn"
    # Operations: the bearer token `/metrics` asks for (unset: /metrics answers 404), and
    # how long past its due time an enrollment or message counts as stuck.
    metrics_token: str | None = None
    stuck_after_seconds: int = 900
    # Retention: after how many days the bulky history of finished work is trimmed (sent
    # bodies, SMTP attempts, repeated and unreferenced events; app/services/retention.py);
    # 0 keeps everything. Off by default: removal cannot be undone, so an operator opts in.
    retention_days: int = 0

    @classmethod
    def from_env(cls) -> Settings:
        """Each setting from the environment variable named like it in capitals (the
        README's configuration table); unset or empty keeps the default."""
        settings = cls(
            **{
                f.name: _READ_ENV[str(f.type)](text)
                for f in fields(cls)
                if (text := os.environ.get(f.name.upper()))
            }
        )
        return replace(settings, base_url=settings.base_url.rstrip("/"))

    def flask_config(self) -> dict[str, Any]:
        """The Flask config keys these settings become."""
        config = {key: getattr(self, name) for name, key in FLASK_KEYS.items()}
        config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(self.database_url)
        config["EMBEDDED_SCHEDULER"] = self.embedded_scheduler and not self.redis_url
        return config

    @classmethod
    def from_flask_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings a running app has: its Flask config, which tests may change, read
        back into typed fields (a key left out keeps the default)."""
        try:  # an app's config holds every key (create_app): read in one C call
            values = _config_values(config)
        except KeyError:
            values = tuple(config.get(key, _UNSET) for key in FLASK_KEYS.values())
        return _settings_from(values)


# Each setting's Flask config key: the one mapping between `Settings` and `app.config`.
FLASK_KEYS: dict[str, str] = {
    "database_url": "SQLALCHEMY_DATABASE_URI",
    "redis_url": "REDIS_URL",
    "smtp_url": "SMTP_URL",
    "base_url": "BASE_URL",
    "secret_key": "SECRET_KEY",
    "encryption_key": "ENCRYPTION_KEY",
    "embedded_scheduler": "EMBEDDED_SCHEDULER",
    "default_from_email": "DEFAULT_FROM_EMAIL",
    "processor_batch_size": "PROCESSOR_BATCH_SIZE",
    "dispatch_batch_size": "DISPATCH_BATCH_SIZE",
    "bot_click_seconds": "BOT_CLICK_SECONDS",
    "machine_open_seconds": "MACHINE_OPEN_SECONDS",
    "tracking_dedup_seconds": "TRACKING_DEDUP_SECONDS",
    "proxy_hops": "PROXY_HOPS",
    "dispatch_lease_seconds": "DISPATCH_LEASE_SECONDS",
    "smtp_connections": "SMTP_CONNECTIONS",
    "call_batch_size": "CALL_BATCH_SIZE",
    "call_lease_seconds": "CALL_LEASE_SECONDS",
    "webhook_allow_private": "WEBHOOK_ALLOW_PRIVATE",
    "render_timeout_seconds": "RENDER_TIMEOUT_SECONDS",
    "render_max_bytes": "RENDER_MAX_BYTES",
    "sign_in_account_limit": "SIGN_IN_ACCOUNT_LIMIT",
    "sign_in_address_limit": "SIGN_IN_ADDRESS_LIMIT",
    "max_request_bytes": "MAX_CONTENT_LENGTH",
    "max_import_request_bytes": "MAX_IMPORT_REQUEST_BYTES",
    "max_form_memory_bytes": "MAX_FORM_MEMORY_SIZE",
    "max_form_parts": "MAX_FORM_PARTS",
    "max_json_depth": "MAX_JSON_DEPTH",
    "dns_resolver": "DNS_RESOLVER",
    "sns_cert_hosts": "SNS_CERT_HOSTS",
    "metrics_token": "METRICS_TOKEN",
    "stuck_after_seconds": "STUCK_AFTER_SECONDS",
    "retention_days": "RETENTION_DAYS",
}
_config_values = operator.itemgetter(*FLASK_KEYS.values())

# How a config value (from the environment, or set by a test) becomes its field's type;
# an unset number is 0, which the second-based rules read as "off".
_READ: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "str | None": lambda value: str(value) if value else None,
    "int": lambda value: int(value or 0),
    "float": lambda value: float(value or 0),
    "bool": bool,
}
_READ_ENV: dict[str, Callable[[str], Any]] = {**_READ, "bool": _flag}


_UNSET = object()


@lru_cache(maxsize=16)
def _settings_from(values: tuple[Any, ...]) -> Settings:
    """Cached by the config values themselves, so a changed config is never served stale."""
    readers = {f.name: _READ[str(f.type)] for f in fields(Settings)}
    return Settings(
        **{
            name: readers[name](value)
            for name, value in zip(FLASK_KEYS, values, strict=True)
            if value is not _UNSET
        }
    )


class SettingsConfig(Config):
    """Flask's config, keeping the `Settings` it was last read into until one of its keys
    changes: reading them back took 2 µs, and sending one message reads them 15 times."""

    _version = 0
    _read: tuple[int, Settings] | None = None

    def settings(self) -> Settings:
        """The typed settings of this config as it is now (read again after any change)."""
        read = self._read
        if read is not None and read[0] == self._version:
            return read[1]
        version = self._version  # before reading: a change meanwhile makes it stale
        settings = Settings.from_flask_config(self)
        self._read = (version, settings)
        return settings

    def _changed(self) -> None:
        self._version += 1

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def __ior__(self, other: Any) -> SettingsConfig:  # type: ignore[override,misc]
        super().__ior__(other)
        self._changed()
        return self

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()


class SettingsFlask(Flask):
    """The app class: its config is a `SettingsConfig`."""

    config_class = SettingsConfig


def current_settings() -> Settings:
    """The running app's settings, as its config holds them at the moment of the call."""
    return cast(SettingsConfig, current_app.config).settings()


def normalise_database_url(url: str) -> str:
    """Accept the usual postgres:// spellings and route them to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(url: str) -> dict[str, Any]:
    """SQLite needs a busy timeout so the scheduler thread and web requests can share it.
    PostgreSQL: idle connections are pinged before use (`extensions.ping_when_idle`)."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {}
