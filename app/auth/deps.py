"""Request dependencies: the bearer token becomes a :class:`Principal` (once per request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth import repository as repo
from app.auth.contracts import DIRECTORY
from app.auth.models import Role
from app.auth.policy import Principal
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.errors import Unauthorized
from app.core.security import TokenError, decode_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

_REASONS = {
    "expired": ("auth.token_expired", "登录已过期，请重新登录", "Token expired"),
    "audience": ("auth.token_invalid", "令牌无效", "Invalid token"),
}


async def _load_principal(request: Request, session, clock, token: str | None) -> Principal | None:
    if not token:
        return None
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
        raise Unauthorized("auth.token_invalid", "令牌无效", "Invalid token")
    family = claims.extra.get("fid")
    user, revoked = await repo.get_user_of_token(session, claims.sub, family if isinstance(family, str) else None)
    if user is None or not user.is_active:
        raise Unauthorized("auth.token_invalid", "令牌无效", "Invalid token")
    if revoked:  # its sign-in was logged out, or its refresh token was replayed
        raise Unauthorized("auth.token_revoked", "登录已失效，请重新登录", "Token revoked; sign in again")
    grants = await repo.grants_of(session, user.id)
    households = await DIRECTORY.directory().memberships(session, user_id=user.id)

    def scopes(role: Role) -> frozenset[str]:
        return frozenset(g.scope_id for g in grants if g.role == role)

    principal = Principal(
        user_id=user.id,
        name=user.name,
        admin_of=scopes(Role.ADMIN),
        staff_of=scopes(Role.STAFF),
        supervisor_of=scopes(Role.SUPERVISOR),
        contractor_of=scopes(Role.CONTRACTOR),
        households=tuple(households),
    )
    request.state.principal = principal
    return principal


async def _principal_of(request: Request, session, clock, token: str | None) -> Principal | None:
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


PrincipalDep = Annotated[Principal, Depends(current_principal)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
