"""Queries for users, grants, members, activation codes and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import ActivationCode, HouseholdMember, RefreshToken, RoleGrant, User
from app.core import repository as base


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await base.get(session, User, user_id)


async def get_user_of_token(session: AsyncSession, user_id: str, family_id: str | None) -> tuple[User | None, bool]:
    """The user, and whether the token's refresh family was revoked (logout, refresh-token reuse): one query."""
    if family_id is None:
        return await session.get(User, user_id), False
    revoked = exists().where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_not(None))
    row = (await session.exec(select(User, revoked).where(col(User.id) == user_id))).first()
    return (row[0], bool(row[1])) if row is not None else (None, False)


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(col(User.username) == username))).first()


async def get_user_by_openid(session: AsyncSession, openid: str) -> User | None:
    return (await session.exec(select(User).where(col(User.wechat_openid) == openid))).first()


async def grants_of(session: AsyncSession, user_id: str) -> list[RoleGrant]:
    return list((await session.exec(select(RoleGrant).where(col(RoleGrant.user_id) == user_id))).all())


async def grant_exists(session: AsyncSession, user_id: str, role: str, scope_id: str) -> bool:
    q = select(RoleGrant.id).where(
        col(RoleGrant.user_id) == user_id, col(RoleGrant.role) == role, col(RoleGrant.scope_id) == scope_id
    )
    return (await session.exec(q)).first() is not None


async def member_count(session: AsyncSession, household_id: str) -> int:
    q = select(func.count()).select_from(HouseholdMember).where(col(HouseholdMember.household_id) == household_id)
    return int((await session.exec(q)).one())


async def get_member(session: AsyncSession, household_id: str, user_id: str) -> HouseholdMember | None:
    q = select(HouseholdMember).where(
        col(HouseholdMember.household_id) == household_id, col(HouseholdMember.user_id) == user_id
    )
    return (await session.exec(q)).first()


async def activation_code_by_hash(session: AsyncSession, code_hash: str) -> ActivationCode | None:
    q = select(ActivationCode).where(col(ActivationCode.code_hash) == code_hash)
    return (await session.exec(q)).first()


async def claim_activation_code(session: AsyncSession, code_id: str, user_id: str, now: datetime) -> bool:
    """Mark a code used, only if nobody used it first (compare-and-set in the database)."""
    res = await session.exec(
        update(ActivationCode)
        .where(col(ActivationCode.id) == code_id, col(ActivationCode.used_at).is_(None))
        .values(used_at=now, used_by=user_id)
    )
    return res.rowcount == 1


async def revoke_open_codes(session: AsyncSession, household_ids: list[str], now: datetime) -> None:
    await session.exec(
        update(ActivationCode)
        .where(
            col(ActivationCode.household_id).in_(household_ids),
            col(ActivationCode.used_at).is_(None),
            col(ActivationCode.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )


async def refresh_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    q = select(RefreshToken).where(col(RefreshToken.token_hash) == token_hash)
    return (await session.exec(q)).first()


async def use_refresh(session: AsyncSession, token_id: str, now: datetime) -> bool:
    res = await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.id) == token_id, col(RefreshToken.used_at).is_(None), col(RefreshToken.revoked_at).is_(None))
        .values(used_at=now)
    )
    return res.rowcount == 1


async def revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )


async def add_activation_codes(session: AsyncSession, rows: list[dict]) -> None:
    if rows:
        await session.exec(insert(ActivationCode), params=rows)  # executemany



async def members_of(session: AsyncSession, household_id: str) -> list[tuple[HouseholdMember, User]]:
    q = (select(HouseholdMember, User).join(User, col(User.id) == HouseholdMember.user_id)
         .where(col(HouseholdMember.household_id) == household_id)
         .order_by(col(HouseholdMember.created_at), col(HouseholdMember.id)))
    return [(m, u) for m, u in (await session.exec(q)).all()]


async def delete_member(session: AsyncSession, household_id: str, user_id: str) -> bool:
    m = await get_member(session, household_id, user_id)
    if m is None:
        return False
    await session.delete(m)
    await session.flush()
    return True
