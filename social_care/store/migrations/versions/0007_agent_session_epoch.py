"""agents.session_epoch: logout and password changes end every console session of the agent

The epoch replaces 0005's per-session revocation records, so their table is dropped.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import social_care.store.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A console cookie carries the epoch it was issued in; bumping it refuses every older cookie at once,
    # in every console process, because each request and each write compares it with this column.
    op.add_column('agents', sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
    op.drop_table('revoked_sessions')


def downgrade() -> None:
    op.create_table('revoked_sessions',
                    sa.Column('sid', sa.String(length=64), nullable=False),
                    sa.Column('expires_at', social_care.store.types.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('sid', name=op.f('pk_revoked_sessions')))
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('session_epoch')
