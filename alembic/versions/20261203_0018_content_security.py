"""WeChat content security (issue 20): the content check of objections and reports, photos' check status

* ``objection.content_check``, ``quality_report.content_check``: skipped | pass | review | approved |
  rejected (rows written before this revision: skipped);
* ``media_object.check_status`` (NULL: not subject to the check; pending_check | pass | risky | released |
  rejected) and ``media_object.check_trace_id`` (mediaCheckAsync's trace id, looked up by the push event).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_check', sqlmodel.sql.sqltypes.AutoString(length=10),
                                      server_default='skipped', nullable=False))
    with op.batch_alter_table('quality_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_check', sqlmodel.sql.sqltypes.AutoString(length=10),
                                      server_default='skipped', nullable=False))
    with op.batch_alter_table('media_object', schema=None) as batch_op:
        batch_op.add_column(sa.Column('check_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('check_trace_id', sqlmodel.sql.sqltypes.AutoString(length=128),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_media_object_check_trace_id'), ['check_trace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('media_object', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_media_object_check_trace_id'))
        batch_op.drop_column('check_trace_id')
        batch_op.drop_column('check_status')
    with op.batch_alter_table('quality_report', schema=None) as batch_op:
        batch_op.drop_column('content_check')
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_column('content_check')
