"""Sign-in and identity endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response

from app.auth import service
from app.auth.deps import HolderDep, OptionalPrincipalDep
from app.auth.schemas import (
    ActivateRequest,
    ActivateResult,
    LogoutRequest,
    Me,
    RefreshRequest,
    TokenPair,
    WechatLogin,
    WechatResult,
)
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import HttpDep, SettingsDep
from app.core.ratelimit import RateLimits, client_ip, get_rate_limits
from app.core.security import PASSWORD_MAX

LimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenPair, operation_id="auth_token")
async def token(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep, limits: LimitsDep,
    username: Annotated[str, Form(min_length=1, max_length=64)],
    password: Annotated[str, Form(min_length=1, max_length=PASSWORD_MAX)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenPair:
    """OAuth2 password flow for staff and admins."""
    return await service.login_password(session, settings=settings, username=username, password=password,
                                        now=clock.now(), limits=limits, ip=client_ip(request))


@router.post("/auth/refresh", response_model=TokenPair, operation_id="auth_refresh")
async def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> TokenPair:
    """Rotate a refresh token; a reused one revokes its whole family."""
    return await service.refresh(session, settings=settings, token=body.refresh_token, now=clock.now())


@router.post("/auth/logout", status_code=204, operation_id="auth_logout")
async def logout(body: LogoutRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep) -> Response:
    await service.logout(session, settings=settings, token=body.refresh_token, now=clock.now())
    return Response(status_code=204)


@router.post("/auth/wechat", response_model=WechatResult, operation_id="auth_wechat")
async def wechat(
    request: Request, body: WechatLogin, session: SessionDep, settings: SettingsDep, clock: ClockDep, http: HttpDep,
    limits: LimitsDep,
) -> WechatResult:
    """Mini-program sign-in: tokens when the WeChat user is bound, else a short-lived binding token."""
    return await service.wechat_login(session, settings=settings, http=http, code=body.code, now=clock.now(),
                                      limits=limits, ip=client_ip(request))


@router.post("/auth/activate", response_model=ActivateResult, operation_id="auth_activate")
async def activate(
    request: Request, body: ActivateRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    current: OptionalPrincipalDep, limits: LimitsDep,
) -> ActivateResult:
    """Bind a resident to a household with a one-time activation code."""
    return await service.activate(session, settings=settings, body=body, now=clock.now(), current=current,
                                  limits=limits, ip=client_ip(request))


@router.get("/me", response_model=Me, operation_id="me")
async def me(session: SessionDep, holder: HolderDep) -> Me:
    return await service.me(session, holder=holder)
