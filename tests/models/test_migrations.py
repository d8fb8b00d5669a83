"""The migrations are the only way the schema is made, and they match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.extensions import db
from app.models import indexes


def test_there_is_exactly_one_head(app):
    config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrated_schema_matches_the_models(app):
    """Autogenerate against the migrated database finds nothing to add, drop or alter."""
    with db.engine.connect() as connection:
        opts = {
            "compare_type": True,
            "include_object": indexes.include_object(connection.dialect.name),
        }
        context = MigrationContext.configure(connection, opts=opts)
        differences = compare_metadata(context, db.metadata)
    assert differences == []
