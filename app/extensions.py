"""Flask extensions, created unbound so models and services import them without an app."""

import sqlite3
import time
from typing import Any

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()  # request.htmx-style helpers: which requests want a fragment

IDLE_PING_SECONDS = 2.0
"""A pooled connection idle longer than this is pinged before use (the server may have
restarted or dropped it meanwhile); one in steady use is not: a ping on every checkout was
a round trip per request, a tenth of the time an API event took."""


def ping_when_idle(engine: Engine) -> None:
    """Ping only connections that sat idle in the pool (instead of `pool_pre_ping` on every
    checkout). One that fails is replaced before use; a server restart while connections
    are busy fails the statement in flight once, and SQLAlchemy then renews the pool."""

    def idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_from"] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        began = record.info.get("idle_from")
        if began is None or time.monotonic() - began < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the driver's own error for a dead connection
            raise DisconnectionError(f"an idle pooled connection is gone: {exc}") from exc

    event.listen(engine, "checkin", idle_from)
    event.listen(engine, "checkout", ping_if_idle)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite: enforce foreign keys like PostgreSQL, and let readers run beside the writer."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
