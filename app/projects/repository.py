"""Queries of projects and stage moves."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import repository as base
from app.projects.models import Project, StageMove
from app.register.models import Community


async def get_project(session: AsyncSession, project_id: str, *, fresh: bool = False) -> Project | None:
    return await base.get(session, Project, project_id, fresh=fresh)


async def projects_page(
    session: AsyncSession, community_id: str, *, after: tuple[datetime, str] | None, limit: int,
    only_ids: set[str] | None = None,
) -> list[Project]:
    """Newest first: ordered by (created_at, id) descending; ``after`` is the last row's key."""
    q = (select(Project).where(Project.community_id == community_id)
         .order_by(col(Project.created_at).desc(), col(Project.id).desc()).limit(limit + 1))
    if after is not None:
        at, pid = after
        q = q.where(or_(col(Project.created_at) < at, and_(col(Project.created_at) == at, col(Project.id) < pid)))
    if only_ids is not None:
        q = q.where(col(Project.id).in_(only_ids))
    return list((await session.exec(q)).all())


async def project_ids_in_community(session: AsyncSession, community_id: str, ids: set[str]) -> list[str]:
    if not ids:
        return []
    q = select(Project.id).where(Project.community_id == community_id, col(Project.id).in_(ids))
    return list((await session.exec(q)).all())


async def latest_project(session: AsyncSession, community_id: str) -> Project | None:
    q = (select(Project).where(Project.community_id == community_id)
         .order_by(col(Project.created_at).desc(), col(Project.id).desc()).limit(1))
    return (await session.exec(q)).first()


async def move_stage(session: AsyncSession, *, project_id: str, expected_version: int, to_stage: str) -> bool:
    """Optimistic compare-and-set on ``version``: False when someone else moved the project first."""
    stmt = (
        update(Project)
        .where(col(Project.id) == project_id, col(Project.version) == expected_version)
        .values(stage=to_stage, version=expected_version + 1)
    )
    res = await session.exec(stmt)
    return res.rowcount == 1


async def add_move(session: AsyncSession, move: StageMove) -> None:
    session.add(move)
    await session.flush()


async def moves_of(session: AsyncSession, project_id: str) -> list[StageMove]:
    q = select(StageMove).where(StageMove.project_id == project_id).order_by(col(StageMove.at), col(StageMove.id))
    return list((await session.exec(q)).all())


async def communities_of(session: AsyncSession, jurisdiction_id: str) -> list[Community]:
    q = select(Community).where(Community.jurisdiction_id == jurisdiction_id).order_by(Community.name, Community.id)
    return list((await session.exec(q)).all())

