"""triage labels and queue lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:52:15.817312
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import social_care.store.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('triage_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('created_at', social_care.store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], name=op.f('fk_triage_labels_agent_id_agents')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_triage_labels_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triage_labels'))
    )
    with op.batch_alter_table('triage_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triage_labels_message_id'), ['message_id'], unique=False)

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_locked', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('queue_locked')

    with op.batch_alter_table('triage_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triage_labels_message_id'))

    op.drop_table('triage_labels')
