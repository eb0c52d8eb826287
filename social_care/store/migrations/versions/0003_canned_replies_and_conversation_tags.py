"""canned replies and conversation tags

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:02:58.839267
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import social_care.store.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=300), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('created_at', social_care.store.types.UTCDateTime(), nullable=False),
    sa.Column('updated_at', social_care.store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['agents.id'], name=op.f('fk_canned_replies_created_by_agents')),
    sa.ForeignKeyConstraint(['updated_by'], ['agents.id'], name=op.f('fk_canned_replies_updated_by_agents')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
    sa.UniqueConstraint('name', name=op.f('uq_canned_replies_name')),
    sa.UniqueConstraint('name_key', name=op.f('uq_canned_replies_name_key'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tags', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('tags')

    op.drop_table('canned_replies')
