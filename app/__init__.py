"""PenguinMails Sequences: the application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import (
    DEV_SECRET_KEY,
    INSTANCE_DIR,
    Settings,
    SettingsFlask,
    current_settings,
    engine_options,
)
from app.core.targets import allow_private_targets, restore_target_policy
from app.extensions import (
    csrf,
    db,
    htmx,
    login_manager,
    migrate,
    ping_when_idle,
)

log = logging.getLogger(__name__)


def secure_cookies(app: Flask, overrides: dict[str, Any]) -> None:
    """Cookies are HTTP-only and same-site; over https they are also Secure."""
    https = str(app.config.get("BASE_URL", "")).startswith("https://")
    settings = {
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_SECURE": https,
    }
    app.config.update({k: v for k, v in settings.items() if k not in overrides})
    production = not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")
    if production and app.config["SECRET_KEY"] == DEV_SECRET_KEY and not app.config.get("TESTING"):
        log.warning("SECRET_KEY is the development default: set it before going to production")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides (tests pass theirs here)."""
    app = SettingsFlask(__name__, instance_path=str(INSTANCE_DIR))
    app.config.update(Settings.from_env().flask_config())
    if config:
        app.config.update(config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    secure_cookies(app, config or {})

    db.init_app(app)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            ping_when_idle(db.engine)
    migrate.init_app(app, db, directory=str(INSTANCE_DIR.parent / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)

    from app import models  # noqa: F401  (registers the tables with the metadata)
    from app.api import api_bp
    from app.cli import register_cli
    from app.health import health_bp
    from app.hooks import hooks_bp
    from app.http import install_http_layer
    from app.http.sessions import NoSessionUnder
    from app.metrics import metrics_bp
    from app.web import web_bp
    from app.web.sign_in_throttle import init_sign_in_throttle

    install_http_layer(app)
    app.session_interface = NoSessionUnder(str(api_bp.url_prefix))
    init_sign_in_throttle(app)
    csrf.exempt(api_bp)
    csrf.exempt(hooks_bp)
    csrf.exempt(metrics_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(hooks_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(web_bp)
    register_cli(app)
    answer_events_directly(app)
    trust_proxies(app)
    apply_target_policy(app)
    return app


def apply_target_policy(app: Flask) -> None:
    """Steps saved during a request may name private call targets only when the operator
    allows them (WEBHOOK_ALLOW_PRIVATE), the same rule the calls themselves follow."""

    @app.before_request
    def _set_policy() -> None:
        g.target_policy = allow_private_targets(current_settings().webhook_allow_private)

    @app.teardown_request
    def _restore_policy(exc: BaseException | None) -> None:
        token = g.pop("target_policy", None)
        if token is not None:
            restore_target_policy(token)


def answer_events_directly(app: Flask) -> None:
    """On PostgreSQL, ordinary events requests skip Flask's request cycle
    (`api/events_fast_path.py`); the one statement they need exists only there."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        from app.api.events_fast_path import EventsFastPath

        app.wsgi_app = EventsFastPath(app, app.wsgi_app)  # type: ignore[method-assign]


def trust_proxies(app: Flask) -> None:
    """Behind PROXY_HOPS reverse proxies, take the client address and scheme from their
    X-Forwarded-* headers: the hosted forms' rate limit is per client address."""
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
