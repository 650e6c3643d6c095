"""supervision follows through: working-day deadlines, reopen counter and flag, same-spot check, alerts

``quality_report`` gains the deadline's working days and a counter of deadlines (``deadline_seq``), the first
assignment and the latest rectification (``assigned_at``, ``rectified_at``), ``reopen_count`` and
``flagged_at``, and the latest rectification's same-spot check (``location_check``, ``location_distance_m``).
Existing reports are filled from their events: the first ``assign`` and the latest ``rectify``, and the number
of ``reopen`` events; their deadlines keep their dates (no working days recorded), none is flagged.
``supervision_alert`` records each warning, escalation and flag once (unique report, kind, period).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('quality_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline_working_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('deadline_seq', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('assigned_at', app.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('rectified_at', app.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reopen_count', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('flagged_at', app.core.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('location_check', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=True))
        batch_op.add_column(sa.Column('location_distance_m', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE quality_report SET "
        "assigned_at = (SELECT MIN(e.at) FROM quality_report_event e "
        "WHERE e.report_id = quality_report.id AND e.action = 'assign'), "
        "rectified_at = (SELECT MAX(e.at) FROM quality_report_event e "
        "WHERE e.report_id = quality_report.id AND e.action = 'rectify'), "
        "reopen_count = (SELECT COUNT(*) FROM quality_report_event e "
        "WHERE e.report_id = quality_report.id AND e.action = 'reopen')")
    op.create_table(
        'supervision_alert',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('report_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('period', sa.Integer(), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['quality_report.id'], name=op.f('fk_supervision_alert_report_id_quality_report')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supervision_alert')),
        sa.UniqueConstraint('report_id', 'kind', 'period', name=op.f('uq_supervision_alert_report_id_kind_period')),
    )


def downgrade() -> None:
    op.drop_table('supervision_alert')
    with op.batch_alter_table('quality_report', schema=None) as batch_op:
        batch_op.drop_column('location_distance_m')
        batch_op.drop_column('location_check')
        batch_op.drop_column('flagged_at')
        batch_op.drop_column('reopen_count')
        batch_op.drop_column('rectified_at')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('deadline_seq')
        batch_op.drop_column('deadline_working_days')
