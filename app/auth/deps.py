"""Request dependencies: the bearer token becomes a :class:`Principal` (once per request).

On SQLite a write request reads its principal through a read connection (:data:`PrincipalDep`), so the one
writer is not taken for it; the online ballot reads it in its own session (:data:`SessionPrincipalDep`); a
write that checks before slow work done with no transaction held reads it with those checks
(:data:`WriteChecksDep`).

Every authenticated request pays for this, so it is kept to two statements (issue 17): the token's user with
their grants and the revocation check of the token's sign-in (:func:`app.auth.repository.token_holder`), and
the user's households (the register's :class:`~app.auth.contracts.HouseholdDirectory`). ``GET /me``, which
shows the households with their names anyway, takes the :data:`HolderDep` (the first statement only) and reads
its household cards instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import repository as repo
from app.auth.contracts import DIRECTORY
from app.auth.models import Role
from app.auth.policy import Principal
from app.auth.repository import TokenHolder
from app.core.clock import Clock, ClockDep
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.security import TokenError, decode_token
from app.core.wechat import WechatClient, get_wechat

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_REASONS = {
    "expired": ("auth.token_expired", "登录已过期，请重新登录", "Token expired"),
    "audience": ("auth.token_invalid", "令牌无效", "Invalid token"),
}


def _invalid() -> Unauthorized:
    return Unauthorized("auth.token_invalid", "令牌无效", "Invalid token")


async def _holder(request: Request, session: AsyncSession, clock: Clock, token: str) -> TokenHolder:
    """The verified token's user (active, the sign-in not revoked) with their grants, or 401."""
    settings = request.app.state.settings
    try:
        claims = decode_token(
            token, secret=settings.secret_key, audience=settings.jwt_audience, issuer=settings.jwt_issuer,
            now=clock.now(),
        )
    except TokenError as exc:
        code, zh, en = _REASONS.get(exc.reason, ("auth.token_invalid", "令牌无效", "Invalid token"))
        raise Unauthorized(code, zh, en) from exc
    if claims.extra.get("typ") != "access":
        raise _invalid()
    family = claims.extra.get("fid")
    holder = await repo.token_holder(session, claims.sub, family if isinstance(family, str) else None)
    if holder is None or not holder.is_active:
        raise _invalid()
    if holder.revoked:  # its sign-in was logged out, or its refresh token was replayed
        raise Unauthorized("auth.token_revoked", "登录已失效，请重新登录", "Token revoked; sign in again")
    return holder


async def _load_principal(request: Request, session: AsyncSession, clock: Clock, token: str | None) -> Principal | None:
    if not token:
        return None
    holder = await _holder(request, session, clock, token)
    households = await DIRECTORY.directory().memberships(session, user_id=holder.user_id)
    by_role: dict[str, set[str]] = {}
    for role, scope_id in holder.grants:
        by_role.setdefault(role, set()).add(scope_id)

    def scopes(role: Role) -> frozenset[str]:
        return frozenset(by_role.get(role.value, ()))

    principal = Principal(
        user_id=holder.user_id,
        name=holder.name,
        admin_of=scopes(Role.ADMIN),
        staff_of=scopes(Role.STAFF),
        supervisor_of=scopes(Role.SUPERVISOR),
        contractor_of=scopes(Role.CONTRACTOR),
        households=tuple(households),
    )
    request.state.principal = principal
    return principal


async def _principal_of(request: Request, session: AsyncSession, clock: Clock, token: str | None) -> Principal | None:
    """On SQLite a write request's session holds THE writer (BEGIN IMMEDIATE from its first statement): the
    principal is read through a read connection instead, so queued writes do not wait for these lookups."""
    db = request.app.state.db
    if token and db.is_sqlite and request.method not in ("GET", "HEAD", "OPTIONS"):
        async with db.read_session() as reader:
            return await _load_principal(request, reader, clock, token)
    return await _load_principal(request, session, clock, token)


async def optional_principal(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal | None:
    return await _principal_of(request, session, clock, token)


async def current_principal(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    principal = await _principal_of(request, session, clock, token)
    if principal is None:
        raise Unauthorized()
    return principal


async def session_principal(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """The principal read in the request's own session on every database, for a write whose first write follows
    at once with nothing slow before it (no upload processed, no other service asked): the online ballot. On
    SQLite its reads (hot statements, microseconds on the event loop's thread) then take THE writer just before
    the ballot would, instead of a read connection's session being opened and closed for them, about 0.3 ms of
    CPU per ballot (issue 17). A token that does not verify is refused before any read."""
    principal = await _load_principal(request, session, clock, token)
    if principal is None:
        raise Unauthorized()
    return principal


@dataclass
class WriteChecks:
    """The principal of a write request that checks (reads only) before slow work it does with no transaction
    held (photos processed), and the session its checks read in: on SQLite one read connection's session for the
    principal and the checks, which :meth:`done` gives back before the slow work (no read transaction is held
    through it); on PostgreSQL the request's own session, whose transaction the slow work's helper ends
    (:func:`app.media.service.staged_images`)."""

    principal: Principal
    session: AsyncSession
    own_session: bool

    async def done(self) -> None:
        """The checks are over: a read connection of their own goes back to its pool."""
        if self.own_session:
            await self.session.close()


async def write_checks(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> AsyncIterator[WriteChecks]:
    """On SQLite one read connection's session for the principal and the checks that follow (about 0.3 ms of
    CPU less than a session for each, issue 17); the writer is not taken for either."""
    db = request.app.state.db
    if not db.is_sqlite:
        yield WriteChecks(await current_principal(request, session, clock, token), session, own_session=False)
        return
    async with db.read_session() as reader:  # no connection is taken for a token that does not verify
        yield WriteChecks(await session_principal(request, reader, clock, token), reader, own_session=True)


async def current_holder(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenHolder:
    """The signed-in user without their households (for ``GET /me``, which reads them with their names)."""
    if not token:
        raise Unauthorized()
    return await _holder(request, session, clock, token)


async def read_holder(
    request: Request, session: SessionDep, clock: ClockDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenHolder:
    """The signed-in user without their households, read like the principal of a write request (on SQLite
    through a read connection): for a route that calls out (to WeChat) before its first write statement, so the
    writer never waits for the call."""
    if not token:
        raise Unauthorized()
    db = request.app.state.db
    if db.is_sqlite:
        async with db.read_session() as reader:
            return await _holder(request, reader, clock, token)
    return await _holder(request, session, clock, token)


@asynccontextmanager
async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session on a read connection (SQLite: not the one writer), for what a write request checks before it
    calls out (e.g. to WeChat) and then writes."""
    async with request.app.state.db.read_session() as reader:
        yield reader


PrincipalDep = Annotated[Principal, Depends(current_principal)]
SessionPrincipalDep = Annotated[Principal, Depends(session_principal)]
WriteChecksDep = Annotated[WriteChecks, Depends(write_checks, scope="function")]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
HolderDep = Annotated[TokenHolder, Depends(current_holder)]
ReadHolderDep = Annotated[TokenHolder, Depends(read_holder)]
WechatDep = Annotated[WechatClient, Depends(get_wechat)]
