"""staged vote results: result revisions, audited corrections, one vote-result notice per revision

``motion_result`` gets ``revision`` (1 for every stored result); ``motion_result_revision`` keeps a result a
correction replaced; ``motion_correction`` records each correction. ``notice`` gets ``revision`` (1 for every
existing notice) and its unique key moves from (motion_id, kind) to (motion_id, kind, revision), so a corrected
result is republished as a new vote-result notice with its own window.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('motion_result', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='1', nullable=False))
    op.create_table('motion_result_revision',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('motion_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('tally', sa.JSON(), nullable=False),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('closed_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('recorded_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('superseded_at', app.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], name=op.f('fk_motion_result_revision_motion_id_motion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_motion_result_revision')),
    sa.UniqueConstraint('motion_id', 'revision', name=op.f('uq_motion_result_revision_motion_id_revision'))
    )
    op.create_table('motion_correction',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('motion_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('objection_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('ballot_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('from_household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('new_ballot_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('photo_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('outcome_before', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', app.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], name=op.f('fk_motion_correction_motion_id_motion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_motion_correction')),
    sa.UniqueConstraint('motion_id', 'revision', name=op.f('uq_motion_correction_motion_id_revision'))
    )
    with op.batch_alter_table('motion_correction', schema=None) as batch_op:
        batch_op.create_index('ix_motion_correction_ballot', ['motion_id', 'ballot_id'], unique=False)
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint('uq_notice_motion_id_kind', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notice_motion_id_kind_revision'),
                                          ['motion_id', 'kind', 'revision'])


def downgrade() -> None:
    # republished vote-result notices stay (with their objections and reads) but no longer name their motion;
    # corrected results keep their latest counts, the replaced revisions and the corrections are dropped
    op.execute("UPDATE notice SET motion_id = NULL WHERE revision > 1")
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notice_motion_id_kind_revision', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notice_motion_id_kind'), ['motion_id', 'kind'])
        batch_op.drop_column('revision')
    with op.batch_alter_table('motion_correction', schema=None) as batch_op:
        batch_op.drop_index('ix_motion_correction_ballot')
    op.drop_table('motion_correction')
    op.drop_table('motion_result_revision')
    with op.batch_alter_table('motion_result', schema=None) as batch_op:
        batch_op.drop_column('revision')
