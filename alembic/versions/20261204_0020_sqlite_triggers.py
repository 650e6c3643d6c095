"""SQLite: two triggers that keep derived rows in the statement that changes their source (issue 17)

``audit_entry_moves_head``: an audit entry inserted moves its chain's head (``audit_head``) to it.
``ballot_made_current``: a ballot inserted becomes its household's current ballot (``current_ballot``), a higher
``seq`` winning. PostgreSQL does both in the inserting statement itself (a data-modifying WITH) and gets no
trigger. The texts are the models' (``app.core.models.AUDIT_HEAD_TRIGGER``,
``app.voting.models.CURRENT_BALLOT_TRIGGER``), written out here as they were when this revision was made.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 00:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0020'
down_revision: str | Sequence[str] | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUDIT_HEAD_TRIGGER = (
    "CREATE TRIGGER audit_entry_moves_head AFTER INSERT ON audit_entry BEGIN "
    "UPDATE audit_head SET last_seq = NEW.seq, last_hash = NEW.hash WHERE chain = NEW.chain; "
    "END"
)
CURRENT_BALLOT_TRIGGER = (
    "CREATE TRIGGER ballot_made_current AFTER INSERT ON ballot BEGIN "
    "INSERT INTO current_ballot (motion_id, household_id, ballot_id, seq, choice, channel, cast_at) "
    "VALUES (NEW.motion_id, NEW.household_id, NEW.id, NEW.seq, NEW.choice, NEW.channel, NEW.cast_at) "
    "ON CONFLICT (motion_id, household_id) DO UPDATE SET ballot_id = excluded.ballot_id, seq = excluded.seq, "
    "choice = excluded.choice, channel = excluded.channel, cast_at = excluded.cast_at "
    "WHERE current_ballot.seq < excluded.seq; "
    "END"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(AUDIT_HEAD_TRIGGER)
        op.execute(CURRENT_BALLOT_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS ballot_made_current")
        op.execute("DROP TRIGGER IF EXISTS audit_entry_moves_head")
