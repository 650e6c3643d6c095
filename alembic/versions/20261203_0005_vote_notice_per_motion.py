"""a motion has one notice of each generated kind: its vote notice (投票公告) and its vote-result notice

The unique key of ``notice`` moves from (motion_id) to (motion_id, kind). Motions frozen before this revision
get no vote notice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notice_motion_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notice_motion_id_kind'), ['motion_id', 'kind'])


def downgrade() -> None:
    # vote notices stay (with their objections and reads) but no longer name their motion
    op.execute("UPDATE notice SET motion_id = NULL WHERE kind = 'vote_notice'")
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notice_motion_id_kind', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_notice_motion_id'), ['motion_id'])
