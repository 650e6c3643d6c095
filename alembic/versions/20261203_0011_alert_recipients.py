"""supervision alerts record who was told

``supervision_alert`` gains ``notified`` (the users told, by id: the admins of the project's jurisdiction — or
the global admins when the jurisdiction has none — and the assignee) and ``audience`` (``assignee``,
``street_office``, ``global_admins`` or ``nobody``). Alerts recorded before this revision keep both NULL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('supervision_alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('audience', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('supervision_alert', schema=None) as batch_op:
        batch_op.drop_column('audience')
        batch_op.drop_column('notified')
