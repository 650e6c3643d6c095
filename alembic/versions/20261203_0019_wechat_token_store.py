"""WeChat's access token shared through the database (issue 20): ``wechat_token``

One row per API base and appid (``token_key``): the token, when it was fetched, when it is refreshed (five
minutes before WeChat lets it lapse), when it lapses, when it was last forced; and the lease of the one caller
refreshing it (``lease_holder``, ``lease_until``). Used when ``REDIS_URL`` is not set.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.core.db
from alembic import op

revision: str = '0019'
down_revision: str | Sequence[str] | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'wechat_token',
        sa.Column('token_key', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('access_token', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
        sa.Column('fetched_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('refresh_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('expires_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('forced_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('lease_holder', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('lease_until', app.core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            '(access_token IS NULL AND fetched_at IS NULL AND refresh_at IS NULL AND expires_at IS NULL)'
            ' OR (access_token IS NOT NULL AND fetched_at IS NOT NULL AND refresh_at IS NOT NULL'
            ' AND expires_at IS NOT NULL)', name=op.f('ck_wechat_token_token_whole')),
        sa.PrimaryKeyConstraint('token_key'),
    )


def downgrade() -> None:
    op.drop_table('wechat_token')
