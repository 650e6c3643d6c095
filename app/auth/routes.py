"""Sign-in and identity endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request, Response

from app.auth import service
from app.auth.deps import HolderDep, OptionalPrincipalDep, ReadHolderDep, WechatDep, read_session
from app.auth.schemas import (
    ActivateRequest,
    ActivateResult,
    JoinRequest,
    JoinResult,
    LogoutRequest,
    Me,
    PhoneVerified,
    RefreshRequest,
    TokenPair,
    WechatLogin,
    WechatPhoneRequest,
    WechatResult,
)
from app.core import ratelimit as rl
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.limits import FORM_CHECKED
from app.core.ratelimit import RateLimits, client_ip, get_rate_limits
from app.core.routing import api_router
from app.core.security import PASSWORD_MAX

LimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]

router = api_router("auth")


@router.post("/auth/token", dependencies=FORM_CHECKED, response_model=TokenPair, operation_id="auth_token")
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
    request: Request, body: WechatLogin, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    wechat: WechatDep, limits: LimitsDep,
) -> WechatResult:
    """Mini-program sign-in: tokens when the WeChat user is bound, else a short-lived binding token."""
    return await service.wechat_login(session, settings=settings, wechat=wechat, code=body.code, now=clock.now(),
                                      limits=limits, ip=client_ip(request))


@router.post("/auth/wechat/phone", response_model=PhoneVerified, operation_id="auth_wechat_phone",
             responses={403: {"description": "wechat.not_bound: the user did not sign in through WeChat"},
                        422: {"description": "wechat.code_invalid: WeChat refused the code (invalid or used)"},
                        502: {"description": "wechat.unavailable: WeChat answered with an error"},
                        503: {"description": "wechat.unavailable: WeChat did not answer in time, busy or over "
                                             "quota"}})
async def wechat_phone(
    request: Request, body: WechatPhoneRequest, session: SessionDep, clock: ClockDep, wechat: WechatDep,
    holder: ReadHolderDep, limits: LimitsDep,
) -> PhoneVerified:
    """The signed-in WeChat user's phone becomes the number WeChat verified for the phone-number button's code
    (each code works once). Audited. A user who did not sign in through WeChat: 403 ``wechat.not_bound``."""
    service.require_wechat(holder=holder)  # before WeChat is asked: the code stays good
    await limits.hit(rl.WECHAT_PER_IP, client_ip(request), clock.now())
    phone = await service.exchange_phone(wechat=wechat, code=body.code, field="code")  # before the first write statement
    return await service.verify_phone(session, user_id=holder.user_id, phone=phone, now=clock.now())


@router.post("/auth/activate", response_model=ActivateResult, operation_id="auth_activate",
             responses={409: {"description": "activation.code_used, activation.code_replaced, "
                                             "activation.household_full, activation.already_member"},
                        422: {"description": "validation.failed; wechat.code_invalid (phone_code refused)"},
                        502: {"description": "wechat.unavailable"}, 503: {"description": "wechat.unavailable"}})
async def activate(
    request: Request, body: ActivateRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    current: OptionalPrincipalDep, limits: LimitsDep, wechat: WechatDep,
) -> ActivateResult:
    """Bind a resident to a household with a one-time activation code, with a typed ``phone`` or the
    ``phone_code`` of the phone-number button (the number WeChat verified is stored)."""
    now, ip = clock.now(), client_ip(request)
    verified = None
    if body.phone_code is not None:
        # the activation code is checked first (a wrong one must not spend the one-time phone code), on a read
        # connection; WeChat is asked before the request's first write statement
        async with read_session(request) as reader:
            await service.precheck_activation(reader=reader, settings=settings, body=body, now=now, current=current,
                                              limits=limits, ip=ip)
        verified = await service.exchange_phone(wechat=wechat, code=body.phone_code, field="phone_code")
    return await service.activate(session, settings=settings, body=body, now=now, current=current,
                                  limits=limits, ip=ip, verified=verified)


@router.post("/auth/join", response_model=JoinResult, operation_id="auth_join",
             responses={400: {"description": "invite.invalid (counted as a wrong guess)"},
                        409: {"description": "invite.used, activation.household_full, activation.already_member, "
                                             "household.inactive"},
                        410: {"description": "invite.expired, invite.revoked"},
                        422: {"description": "validation.failed (a new account needs phone or phone_code, and "
                                             "name); wechat.code_invalid (phone_code refused)"},
                        429: {"description": "auth.rate_limited (the same limits as activation)"},
                        502: {"description": "wechat.unavailable"}, 503: {"description": "wechat.unavailable"}})
async def join(
    request: Request, body: JoinRequest, session: SessionDep, settings: SettingsDep, clock: ClockDep,
    current: OptionalPrincipalDep, limits: LimitsDep, wechat: WechatDep,
) -> JoinResult:
    """Join a household as a family member or tenant with an owner's one-time invitation: the signed-in user, the
    WeChat user of ``binding_token``, or a new account (``name`` and a typed ``phone`` or the ``phone_code`` of
    the phone-number button). Answers tokens as activation does. Each invitation works once."""
    now, ip = clock.now(), client_ip(request)
    verified = None
    if body.phone_code is not None:
        # the invitation is checked first (a wrong one must not spend the one-time phone code), on a read
        # connection; WeChat is asked before the request's first write statement
        async with read_session(request) as reader:
            await service.precheck_join(reader=reader, settings=settings, body=body, now=now, current=current,
                                        limits=limits, ip=ip)
        verified = await service.exchange_phone(wechat=wechat, code=body.phone_code, field="phone_code")
    return await service.join(session, settings=settings, body=body, now=now, current=current, limits=limits, ip=ip,
                              verified=verified)


@router.get("/me", response_model=Me, operation_id="me")
async def me(session: SessionDep, holder: HolderDep) -> Me:
    return await service.me(session, holder=holder)
