"""Queries for users, grants, members, activation codes, invitations and refresh tokens.

The query every authenticated request runs (:func:`token_holder`) is a Core statement built once at import,
with bound parameters, and sent by the driver (:class:`app.core.hotread.HotRead`): no ORM objects, no
statement built per request, no SQLAlchemy execution (issue 17).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, func, insert, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import ActivationCode, HouseholdInvite, HouseholdMember, RefreshToken, RoleGrant, User
from app.core import repository as base
from app.core.hotread import HotRead


@dataclass(frozen=True)
class TokenHolder:
    """The user an access token names, with their role grants and whether the token's sign-in was revoked."""

    user_id: str
    name: str
    is_active: bool
    revoked: bool
    username: str | None
    phone: str | None
    phone_verified: bool
    wechat_bound: bool
    created_at: datetime
    grants: tuple[tuple[str, str], ...]  # (role, scope id)


_user, _grant, _refresh = User.__table__, RoleGrant.__table__, RefreshToken.__table__  # type: ignore[attr-defined]
_TOKEN_HOLDER = HotRead(
    core_select(_user.c.id, _user.c.name, _user.c.is_active, _user.c.username, _user.c.phone,
                _user.c.wechat_openid, _user.c.created_at,
                exists().where(_refresh.c.family_id == bindparam("family_id"),
                               _refresh.c.revoked_at.is_not(None)).label("revoked"),
                _grant.c.role, _grant.c.scope_id, _user.c.phone_verified_at)
    .select_from(_user.outerjoin(_grant, _grant.c.user_id == _user.c.id))
    .where(_user.c.id == bindparam("user_id"))
)


async def token_holder(session: AsyncSession, user_id: str, family_id: str | None) -> TokenHolder | None:
    """The user, their grants, and whether the token's refresh family was revoked (logout, refresh-token
    reuse) — one statement, one row per grant (a token without a family is never revoked by one)."""
    if not user_id or len(user_id) > base.ID_MAX:
        return None
    rows = await _TOKEN_HOLDER.all(session, user_id=user_id, family_id=family_id)
    if not rows:
        return None
    r = rows[0]
    return TokenHolder(user_id=r[0], name=r[1], is_active=bool(r[2]), revoked=bool(r[7]), username=r[3],
                       phone=r[4], phone_verified=r[10] is not None, wechat_bound=r[5] is not None, created_at=r[6],
                       grants=tuple((row[8], row[9]) for row in rows if row[8] is not None))


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    return await base.get(session, User, user_id)


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    return (await session.exec(select(User).where(col(User.username) == username))).first()


async def get_user_by_openid(session: AsyncSession, openid: str) -> User | None:
    return (await session.exec(select(User).where(col(User.wechat_openid) == openid))).first()


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


_code = ActivationCode.__table__  # type: ignore[attr-defined]
_REPLACE_CODE = (update(_code).where(_code.c.id == bindparam("old_id"), _code.c.used_at.is_(None),
                                     _code.c.revoked_at.is_(None))
                 .values(revoked_at=bindparam("at"), replaced_by=bindparam("new_id")))


async def open_codes(session: AsyncSession, household_ids: list[str], relation: str) -> list[tuple[str, str]]:
    """(code id, household id) of the households' unused, unrevoked codes of ``relation``."""
    q = select(ActivationCode.id, ActivationCode.household_id).where(
        col(ActivationCode.household_id).in_(household_ids), col(ActivationCode.relation) == relation,
        col(ActivationCode.used_at).is_(None), col(ActivationCode.revoked_at).is_(None))
    return [(i, h) for i, h in (await session.exec(q)).all()]


async def replace_codes(session: AsyncSession, replaced: list[tuple[str, str]], now: datetime) -> None:
    """Revoke each (old code id, new code id): the old one records the code that replaced it (executemany)."""
    if replaced:
        conn = await session.connection()
        await conn.execute(_REPLACE_CODE, [{"old_id": o, "new_id": n, "at": now} for o, n in replaced])


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


# ---- invitations -------------------------------------------------------------------------------------------

def _open_invite(now: datetime) -> list:
    return [col(HouseholdInvite.used_at).is_(None), col(HouseholdInvite.revoked_at).is_(None),
            col(HouseholdInvite.expires_at) > now]


async def invite_by_hash(session: AsyncSession, code_hash: str) -> HouseholdInvite | None:
    q = select(HouseholdInvite).where(col(HouseholdInvite.code_hash) == code_hash)
    return (await session.exec(q.execution_options(populate_existing=True))).first()


async def get_invite(session: AsyncSession, invite_id: str) -> HouseholdInvite | None:
    return await base.get(session, HouseholdInvite, invite_id, fresh=True)


async def add_invite(session: AsyncSession, invite: HouseholdInvite) -> HouseholdInvite:
    return await base.add(session, invite)


async def open_invites(session: AsyncSession, household_id: str, now: datetime) -> list[HouseholdInvite]:
    """The household's invitations nobody used or revoked and that have not expired, oldest first."""
    q = (select(HouseholdInvite).where(col(HouseholdInvite.household_id) == household_id, *_open_invite(now))
         .order_by(col(HouseholdInvite.created_at), col(HouseholdInvite.id)))
    return list((await session.exec(q)).all())


async def open_invite_count(session: AsyncSession, household_id: str, now: datetime) -> int:
    q = (select(func.count()).select_from(HouseholdInvite)
         .where(col(HouseholdInvite.household_id) == household_id, *_open_invite(now)))
    return int((await session.exec(q)).one())


async def claim_invite(session: AsyncSession, invite_id: str, user_id: str, now: datetime) -> bool:
    """Mark an invitation used, only if nobody used or revoked it first (compare-and-set in the database)."""
    res = await session.exec(
        update(HouseholdInvite)
        .where(col(HouseholdInvite.id) == invite_id, col(HouseholdInvite.used_at).is_(None),
               col(HouseholdInvite.revoked_at).is_(None))
        .values(used_at=now, used_by=user_id)
    )
    return res.rowcount == 1


async def revoke_invite(session: AsyncSession, invite_id: str, now: datetime, by: str) -> bool:
    """Revoke an invitation nobody used or revoked yet (compare-and-set)."""
    res = await session.exec(
        update(HouseholdInvite)
        .where(col(HouseholdInvite.id) == invite_id, col(HouseholdInvite.used_at).is_(None),
               col(HouseholdInvite.revoked_at).is_(None))
        .values(revoked_at=now, revoked_by=by)
    )
    return res.rowcount == 1


async def revoke_open_invites(session: AsyncSession, household_id: str, now: datetime, *,
                              created_by: str | None = None) -> list[str]:
    """Revoke the household's unused invitations (only those ``created_by`` issued, when given): their ids."""
    q = select(HouseholdInvite.id).where(col(HouseholdInvite.household_id) == household_id,
                                         col(HouseholdInvite.used_at).is_(None),
                                         col(HouseholdInvite.revoked_at).is_(None))
    if created_by is not None:
        q = q.where(col(HouseholdInvite.created_by) == created_by)
    ids = sorted((await session.exec(q)).all())
    if ids:
        await session.exec(update(HouseholdInvite).where(col(HouseholdInvite.id).in_(ids),
                                                         col(HouseholdInvite.used_at).is_(None),
                                                         col(HouseholdInvite.revoked_at).is_(None))
                           .values(revoked_at=now))
    return ids
