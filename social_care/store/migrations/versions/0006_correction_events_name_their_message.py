"""triage corrections name their message in events.message_id

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 16:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# Until this revision a correction's message was written only into `data`, so the metrics replay (which
# reads the column) did not see agents' corrections.
_POSTGRESQL = """
UPDATE events SET message_id = (data->>'message_id')::integer
WHERE kind = 'triage_corrected' AND message_id IS NULL AND data->>'message_id' IS NOT NULL
"""
_SQLITE = """
UPDATE events SET message_id = json_extract(data, '$.message_id')
WHERE kind = 'triage_corrected' AND message_id IS NULL AND json_extract(data, '$.message_id') IS NOT NULL
"""


def upgrade() -> None:
    op.execute(_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE)


def downgrade() -> None:
    pass  # the column is where the message belongs; an older revision ignores it
