"""motion electoral roll; the running tally no longer carries a register version

Motions open before this revision get their roll frozen by the first write that touches them (ballot, tally,
roll read, close, the worker's tick), from the register as it is then; their running tally is rebuilt from
the roll at that moment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 23:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('motion_roll',
    sa.Column('motion_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('frozen_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('frozen_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('roll_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('households', sa.BigInteger(), nullable=False),
    sa.Column('owners', sa.BigInteger(), nullable=False),
    sa.Column('area', sa.BigInteger(), nullable=False),
    sa.Column('amendments', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], name=op.f('fk_motion_roll_motion_id_motion')),
    sa.PrimaryKeyConstraint('motion_id', name=op.f('pk_motion_roll'))
    )
    op.create_table('motion_roll_entry',
    sa.Column('motion_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('building', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('area_centi', sa.BigInteger(), nullable=False),
    sa.Column('owner_group', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                            name=op.f('fk_motion_roll_entry_household_id_household')),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], name=op.f('fk_motion_roll_entry_motion_id_motion')),
    sa.PrimaryKeyConstraint('motion_id', 'household_id', name=op.f('pk_motion_roll_entry'))
    )
    with op.batch_alter_table('motion_roll_entry', schema=None) as batch_op:
        batch_op.create_index('ix_motion_roll_entry_owner', ['motion_id', 'owner_group'], unique=False)
    op.create_table('motion_roll_amendment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('motion_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('roll_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', app.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], name=op.f('fk_motion_roll_amendment_motion_id_motion')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_motion_roll_amendment')),
    sa.UniqueConstraint('motion_id', 'seq', name=op.f('uq_motion_roll_amendment_motion_id_seq'))
    )
    with op.batch_alter_table('motion', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roll_frozen_at', app.core.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table('motion_tally', schema=None) as batch_op:
        batch_op.drop_column('register_version')


def downgrade() -> None:
    with op.batch_alter_table('motion_tally', schema=None) as batch_op:
        batch_op.add_column(sa.Column('register_version', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('motion', schema=None) as batch_op:
        batch_op.drop_column('roll_frozen_at')
    op.drop_table('motion_roll_amendment')
    with op.batch_alter_table('motion_roll_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_motion_roll_entry_owner')
    op.drop_table('motion_roll_entry')
    op.drop_table('motion_roll')
