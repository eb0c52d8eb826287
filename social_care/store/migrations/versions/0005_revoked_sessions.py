"""revoked console sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import social_care.store.types

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('revoked_sessions',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('expires_at', social_care.store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_revoked_sessions'))
    )


def downgrade() -> None:
    op.drop_table('revoked_sessions')
