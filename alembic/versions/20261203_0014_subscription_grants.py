"""WeChat one-time subscription grants (issue 20): ``subscription_grant``

One row per user and template: ``unused`` one-time subscriptions (each acceptance of
``wx.requestSubscribeMessage`` adds one, each queued message uses one, errcode 43101 sets it to zero).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.core.db
from alembic import op

revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'subscription_grant',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('user_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('template_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('unused', sa.Integer(), nullable=False),
        sa.Column('updated_at', app.core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint('unused >= 0', name='ck_subscription_grant_unused'),
        sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'template_id'),
    )
    with op.batch_alter_table('subscription_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_grant_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('subscription_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_grant_user_id'))
    op.drop_table('subscription_grant')
