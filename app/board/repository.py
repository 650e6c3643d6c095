"""Every query of the board domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.board.models import BoardToken


async def by_hash(session: AsyncSession, token_hash: str) -> BoardToken | None:
    return (await session.exec(select(BoardToken).where(BoardToken.token_hash == token_hash))).first()


async def of_community(session: AsyncSession, community_id: str, *, lock: bool = False) -> BoardToken | None:
    q = select(BoardToken).where(BoardToken.community_id == community_id)
    if lock:
        q = q.with_for_update()
    return (await session.exec(q)).first()


async def put(session: AsyncSession, *, community_id: str, token_hash: str, now: datetime, by: str | None) -> bool:
    """Set the community's token hash (insert or replace); True when one was replaced."""
    row = await of_community(session, community_id, lock=True)
    if row is None:
        session.add(BoardToken(community_id=community_id, token_hash=token_hash, created_at=now, created_by=by))
        await session.flush()
        return False
    row.token_hash, row.created_at, row.created_by = token_hash, now, by
    session.add(row)
    await session.flush()
    return True


async def remove(session: AsyncSession, community_id: str) -> bool:
    """Delete the community's token; True when there was one."""
    res = await session.exec(delete(BoardToken).where(col(BoardToken.community_id) == community_id))  # type: ignore[call-overload]
    return bool(res.rowcount)
