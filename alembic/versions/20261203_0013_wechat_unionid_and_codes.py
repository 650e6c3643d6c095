"""WeChat identity and activation codes (issue 20): unionid, verified phones, replaced codes

* ``app_user.wechat_unionid`` (nullable, indexed): stored when ``jscode2session`` returns it.
* ``app_user.phone_verified_at`` (nullable): when ``phone`` was verified by WeChat's phone-number button.
* ``activation_code.replaced_by`` (nullable): the code for the same household and relation that revoked this
  one; such a code answers ``activation.code_replaced``. Codes revoked before this revision keep NULL (they
  answer ``activation.code_invalid`` as before).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.core.db

revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wechat_unionid', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('phone_verified_at', app.core.db.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_app_user_wechat_unionid'), ['wechat_unionid'], unique=False)
    with op.batch_alter_table('activation_code', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaced_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('activation_code', schema=None) as batch_op:
        batch_op.drop_column('replaced_by')
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_user_wechat_unionid'))
        batch_op.drop_column('phone_verified_at')
        batch_op.drop_column('wechat_unionid')
