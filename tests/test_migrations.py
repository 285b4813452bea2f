from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from modelyard.db import Database
from modelyard.migrate import current_revision, head_revision
from modelyard.models import Base


def test_migrations_match_the_models(migrated_database: Database) -> None:
    with migrated_database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head(migrated_database: Database) -> None:
    assert current_revision(migrated_database) == head_revision(migrated_database)
