"""the residents' share ledger: lines per plan item with a residents' share, pledges, collections and refunds

Three new tables (app/funding): ``funding_line`` (one per project and item key, kept across plan versions;
unique on ``(project_id, key)``), ``funding_pledge`` (a household's current pledge per line, unique on
``(line_id, household_id)``) and ``funding_payment`` (collections and refunds, never updated; a receipt number
unique per project and kind). Nothing is backfilled: the lines of plans made before this revision are stored
by the first funding write or plan version after it, with the rules profile's defaults at that moment.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('funding_line',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('community_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('item_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('scope', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('building_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('unit_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('share_fen', sa.BigInteger(), nullable=False),
    sa.Column('split', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('funded_when', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('status_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('share_fen >= 0', name=op.f('ck_funding_line_share_non_negative')),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name=op.f('fk_funding_line_community_id_community')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_funding_line_plan_id_plan')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_funding_line_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_line')),
    sa.UniqueConstraint('project_id', 'key', name=op.f('uq_funding_line_project_id_key'))
    )
    with op.batch_alter_table('funding_line', schema=None) as batch_op:
        batch_op.create_index('ix_funding_line_item', ['item_id'], unique=False)

    op.create_table('funding_pledge',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('line_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('questionnaire_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', app.core.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen >= 0', name=op.f('ck_funding_pledge_amount_non_negative')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                            name=op.f('fk_funding_pledge_household_id_household')),
    sa.ForeignKeyConstraint(['line_id'], ['funding_line.id'], name=op.f('fk_funding_pledge_line_id_funding_line')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_pledge')),
    sa.UniqueConstraint('line_id', 'household_id', name=op.f('uq_funding_pledge_line_id_household_id'))
    )
    with op.batch_alter_table('funding_pledge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_pledge_household_id'), ['household_id'], unique=False)

    op.create_table('funding_payment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('project_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('line_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('receipt_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_funding_payment_amount_positive')),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'],
                            name=op.f('fk_funding_payment_household_id_household')),
    sa.ForeignKeyConstraint(['line_id'], ['funding_line.id'], name=op.f('fk_funding_payment_line_id_funding_line')),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_funding_payment_project_id_project')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_payment')),
    sa.UniqueConstraint('project_id', 'kind', 'receipt_no', name=op.f('uq_funding_payment_project_id_kind_receipt_no'))
    )
    with op.batch_alter_table('funding_payment', schema=None) as batch_op:
        batch_op.create_index('ix_funding_payment_household', ['household_id'], unique=False)
        batch_op.create_index('ix_funding_payment_line_household', ['line_id', 'household_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('funding_payment', schema=None) as batch_op:
        batch_op.drop_index('ix_funding_payment_line_household')
        batch_op.drop_index('ix_funding_payment_household')
    op.drop_table('funding_payment')
    with op.batch_alter_table('funding_pledge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_pledge_household_id'))
    op.drop_table('funding_pledge')
    with op.batch_alter_table('funding_line', schema=None) as batch_op:
        batch_op.drop_index('ix_funding_line_item')
    op.drop_table('funding_line')
