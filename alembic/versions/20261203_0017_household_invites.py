"""Household invitations (issue 20): ``household_invite``

An owner or co-owner (or staff) invites a family member or tenant with a short one-time code (stored as a keyed
hash) that expires; ``POST /auth/join`` uses it once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

import app.core.db
from alembic import op

revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'household_invite',
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('household_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('expires_at', app.core.db.UTCDateTime(), nullable=False),
        sa.Column('used_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('used_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('revoked_at', app.core.db.UTCDateTime(), nullable=True),
        sa.Column('revoked_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('created_at', app.core.db.UTCDateTime(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['household.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash', name=op.f('uq_household_invite_code_hash')),
    )
    with op.batch_alter_table('household_invite', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_invite_created_by'), ['created_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_household_invite_household_id'), ['household_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('household_invite', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_invite_household_id'))
        batch_op.drop_index(batch_op.f('ix_household_invite_created_by'))
    op.drop_table('household_invite')
