"""a household can be deactivated (merged into another, or gone) instead of deleted

Three nullable columns on ``household``: ``deactivated_at``, ``deactivation_reason`` and ``merged_into_id``
(the household it was merged into; no foreign key, households are never deleted). Every household existing
before this revision is active.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deactivated_at', app.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('deactivation_reason', sqlmodel.sql.sqltypes.AutoString(length=500),
                                      nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    # deactivated households become active again: downgrade only before any has been deactivated
    with op.batch_alter_table('household', schema=None) as batch_op:
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('deactivation_reason')
        batch_op.drop_column('deactivated_at')
