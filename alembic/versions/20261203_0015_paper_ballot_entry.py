"""Paper first (issue 19): double entry of paper slips and proxies

``paper_slip`` (one slip of a household under double entry: pending, conflict, counted, superseded, uncounted;
``open_household`` unique per motion while unsettled) and ``paper_entry`` (each clerk's entry, one per clerk
and slip); on ``ballot`` the clerk who checked a double-entered slip (or resolved its conflict) and the proxy
with the photo of the signed authorisation.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.core.db
from alembic import op

revision: str = '0015'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _s(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def upgrade() -> None:
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checked_by', _s(32), nullable=True))
        batch_op.add_column(sa.Column('proxy_name', _s(50), nullable=True))
        batch_op.add_column(sa.Column('proxy_relation', _s(30), nullable=True))
        batch_op.add_column(sa.Column('proxy_key', _s(50), nullable=True))
        batch_op.add_column(sa.Column('proxy_photo_sha256', _s(64), nullable=True))
        batch_op.add_column(sa.Column('proxy_media_id', _s(32), nullable=True))
        batch_op.create_index('ix_ballot_motion_proxy', ['motion_id', 'proxy_key'], unique=False)
    op.create_table(
        'paper_slip',
        sa.Column('id', _s(32), nullable=False),
        sa.Column('motion_id', _s(32), nullable=False),
        sa.Column('household_id', _s(32), nullable=False),
        sa.Column('open_household', _s(32), nullable=True),
        sa.Column('status', _s(12), nullable=False),
        sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
        sa.Column('settled_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('settled_by', _s(32), nullable=True),
        sa.Column('ballot_id', _s(32), nullable=True),
        sa.Column('resolved_choice', _s(10), nullable=True),
        sa.Column('reason', _s(500), nullable=True),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'], ),
        sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('motion_id', 'open_household'),
    )
    with op.batch_alter_table('paper_slip', schema=None) as batch_op:
        batch_op.create_index('ix_paper_slip_motion_status', ['motion_id', 'status', 'id'], unique=False)
    op.create_table(
        'paper_entry',
        sa.Column('id', _s(32), nullable=False),
        sa.Column('slip_id', _s(32), nullable=False),
        sa.Column('motion_id', _s(32), nullable=False),
        sa.Column('household_id', _s(32), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('actor_id', _s(32), nullable=False),
        sa.Column('choice', _s(10), nullable=False),
        sa.Column('entered_at', app.core.db.UTCDateTime(), nullable=False),
        sa.Column('photo_sha256', _s(64), nullable=False),
        sa.Column('photo_media_id', _s(32), nullable=False),
        sa.Column('proxy_name', _s(50), nullable=True),
        sa.Column('proxy_relation', _s(30), nullable=True),
        sa.Column('proxy_key', _s(50), nullable=True),
        sa.Column('proxy_photo_sha256', _s(64), nullable=True),
        sa.Column('proxy_media_id', _s(32), nullable=True),
        sa.ForeignKeyConstraint(['motion_id'], ['motion.id'], ),
        sa.ForeignKeyConstraint(['slip_id'], ['paper_slip.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slip_id', 'position'),
        sa.UniqueConstraint('slip_id', 'actor_id'),
    )
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.create_index('ix_paper_entry_motion_proxy', ['motion_id', 'proxy_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_paper_entry_slip_id'), ['slip_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paper_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_entry_slip_id'))
        batch_op.drop_index('ix_paper_entry_motion_proxy')
    op.drop_table('paper_entry')
    with op.batch_alter_table('paper_slip', schema=None) as batch_op:
        batch_op.drop_index('ix_paper_slip_motion_status')
    op.drop_table('paper_slip')
    with op.batch_alter_table('ballot', schema=None) as batch_op:
        batch_op.drop_index('ix_ballot_motion_proxy')
        for c in ('proxy_media_id', 'proxy_photo_sha256', 'proxy_key', 'proxy_relation', 'proxy_name', 'checked_by'):
            batch_op.drop_column(c)
