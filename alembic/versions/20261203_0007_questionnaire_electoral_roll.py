"""questionnaire electoral roll: a questionnaire whose rule counts households keeps a roll, as a motion does

Two nullable columns on ``questionnaire``: ``counts_households`` (whether a rule of it counts households, so
that it keeps a roll; decided when it opens) and ``roll_frozen_at``; and the tables ``questionnaire_roll``,
``questionnaire_roll_entry`` and ``questionnaire_roll_amendment`` (the shape of the motions' rolls).

Questionnaires opened before this revision have ``counts_households`` null: it is decided at their first touch
(a response, a results read, the worker's tick …), which also freezes the roll of an open one from the register
as it is then. Those closed before this revision keep no roll and count the register's households in scope.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('questionnaire', schema=None) as batch_op:
        batch_op.add_column(sa.Column('counts_households', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('roll_frozen_at', app.core.db.UTCDateTime(), nullable=True))
    op.create_table('questionnaire_roll',
    sa.Column('questionnaire_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('frozen_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('frozen_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('roll_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('households', sa.BigInteger(), nullable=False),
    sa.Column('owners', sa.BigInteger(), nullable=False),
    sa.Column('area', sa.BigInteger(), nullable=False),
    sa.Column('amendments', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['questionnaire_id'], ['questionnaire.id'],
                            name=op.f('fk_questionnaire_roll_questionnaire_id_questionnaire')),
    sa.PrimaryKeyConstraint('questionnaire_id', name=op.f('pk_questionnaire_roll'))
    )
    op.create_table('questionnaire_roll_entry',
    sa.Column('questionnaire_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('building', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('unit', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('room', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('area_centi', sa.BigInteger(), nullable=False),
    sa.Column('owner_group', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                            name=op.f('fk_questionnaire_roll_entry_household_id_household')),
    sa.ForeignKeyConstraint(['questionnaire_id'], ['questionnaire.id'],
                            name=op.f('fk_questionnaire_roll_entry_questionnaire_id_questionnaire')),
    sa.PrimaryKeyConstraint('questionnaire_id', 'household_id', name=op.f('pk_questionnaire_roll_entry'))
    )
    with op.batch_alter_table('questionnaire_roll_entry', schema=None) as batch_op:
        batch_op.create_index('ix_questionnaire_roll_entry_owner', ['questionnaire_id', 'owner_group'], unique=False)
    op.create_table('questionnaire_roll_amendment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('questionnaire_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('roll_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('at', app.core.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['questionnaire_id'], ['questionnaire.id'],
                            name=op.f('fk_questionnaire_roll_amendment_questionnaire_id_questionnaire')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_questionnaire_roll_amendment')),
    sa.UniqueConstraint('questionnaire_id', 'seq', name=op.f('uq_questionnaire_roll_amendment_questionnaire_id_seq'))
    )


def downgrade() -> None:
    op.drop_table('questionnaire_roll_amendment')
    with op.batch_alter_table('questionnaire_roll_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_questionnaire_roll_entry_owner')
    op.drop_table('questionnaire_roll_entry')
    op.drop_table('questionnaire_roll')
    with op.batch_alter_table('questionnaire', schema=None) as batch_op:
        batch_op.drop_column('roll_frozen_at')
        batch_op.drop_column('counts_households')
