"""message text search index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 12:00:00
"""
from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

logger = logging.getLogger(__name__)

# Only customer messages are searched; `direction` never changes, so the triggers can filter on it.
SQLITE_UP = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id', "
    "tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.direction = 'inbound' BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.direction = 'inbound' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN new.direction = 'inbound' BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages WHERE direction = 'inbound'",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TABLE IF EXISTS messages_fts",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Where the role
        # may not, search still works, by a scan; the migration must not fail for an index.
        savepoint = bind.begin_nested()
        try:
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.execute("CREATE INDEX ix_messages_text_trgm ON messages USING gin (text gin_trgm_ops) "
                       "WHERE direction = 'inbound'")
            savepoint.commit()
        except DBAPIError as err:
            savepoint.rollback()
            logger.warning("no trigram index for message search (%s); search will scan", type(err).__name__)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_text_trgm")
