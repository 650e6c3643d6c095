"""residents' shares: "my share" pledges and the roll a line's shares freeze on

``funding_pledge.amount_fen`` becomes nullable: null is a pledge of "my share", whose amount is the household's
current share, computed when read (an ``opted_in`` item is no longer "funded" by its first opt-in). Pledges
stored before this revision keep their amounts as explicit ones. ``funding_line.roll_frozen_at`` and the new
table ``funding_roll`` (primary key ``(line_id, household_id)``, the exclusive area at freezing): from an item's
first collection its shares are split over that frozen roll, not the live register. Nothing is backfilled: a
line that already has collections freezes at its next collection (or a staff recompute).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('funding_pledge', schema=None) as batch_op:
        batch_op.alter_column('amount_fen', existing_type=sa.BigInteger(), nullable=True)
    with op.batch_alter_table('funding_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roll_frozen_at', app.core.db.UTCDateTime(), nullable=True))
    op.create_table('funding_roll',
    sa.Column('line_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('area_centi', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('area_centi > 0', name=op.f('ck_funding_roll_area_positive')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_funding_roll_household_id_household')),
    sa.ForeignKeyConstraint(['line_id'], ['funding_line.id'], name=op.f('fk_funding_roll_line_id_funding_line')),
    sa.PrimaryKeyConstraint('line_id', 'household_id', name=op.f('pk_funding_roll'))
    )


def downgrade() -> None:
    # "my share" pledges become explicit pledges of 0 (withdrawn): downgrade only before anyone pledged so
    op.drop_table('funding_roll')
    with op.batch_alter_table('funding_line', schema=None) as batch_op:
        batch_op.drop_column('roll_frozen_at')
    op.execute("UPDATE funding_pledge SET amount_fen = 0 WHERE amount_fen IS NULL")
    with op.batch_alter_table('funding_pledge', schema=None) as batch_op:
        batch_op.alter_column('amount_fen', existing_type=sa.BigInteger(), nullable=False)
