"""Sign-in: passwords for staff, activation codes and WeChat for residents, rotating refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import repository as repo
from app.auth.contracts import DIRECTORY
from app.auth.models import HouseholdMember, RefreshToken, Relation, Role, RoleGrant, User
from app.auth.policy import Principal
from app.auth.repository import TokenHolder
from app.auth.schemas import (
    ActivateRequest,
    ActivateResult,
    CommunityRef,
    Me,
    MeUser,
    MyHousehold,
    MyRole,
    NamedRef,
    TokenPair,
    WechatResult,
)
from app.core import audit
from app.core import ratelimit as rl
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import AppError, Conflict, Invalid, NotFound, Unauthorized
from app.core.ratelimit import RateLimits
from app.core.security import (
    TokenError,
    create_token,
    decode_token,
    hash_password,
    keyed_hash,
    new_activation_code,
    new_opaque_token,
    normalize_activation_code,
    password_problems,
    verify_password,
)
from app.core.units import format_area

BINDING_SUFFIX = ":wechat-binding"


def _refresh_hash(settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key, token, purpose="refresh")


async def issue_tokens(
    session: AsyncSession, *, settings: Settings, user_id: str, now: datetime, family_id: str | None = None
) -> TokenPair:
    """A refresh token of a (new) family, and an access token naming that family (claim ``fid``): revoking the
    family (logout, refresh-token reuse) refuses the access tokens issued in it too."""
    family_id = family_id or new_id()
    access = create_token(
        secret=settings.secret_key, subject=user_id, audience=settings.jwt_audience, issuer=settings.jwt_issuer,
        now=now, ttl=timedelta(minutes=settings.access_token_minutes), extra={"typ": "access", "fid": family_id},
    )
    token_id = new_id()
    refresh = f"{token_id}.{new_opaque_token(32)}"
    session.add(RefreshToken(
        id=token_id, family_id=family_id, user_id=user_id,
        token_hash=_refresh_hash(settings, refresh), created_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_days),
    ))
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=settings.access_token_minutes * 60)


def _bad_credentials() -> Unauthorized:
    return Unauthorized("auth.invalid_credentials", "用户名或密码错误", "Wrong username or password")


async def login_password(
    session: AsyncSession, *, settings: Settings, username: str, password: str, now: datetime,
    limits: RateLimits | None = None, ip: str = "",
) -> TokenPair:
    account = f"{username.lower()}|{ip}"
    if limits is not None:
        await limits.hit(rl.LOGIN_PER_IP, ip, now)
        await limits.check(rl.LOGIN_FAILURES_PER_IP, ip, now)
        await limits.check(rl.LOGIN_FAILURES_PER_ACCOUNT_IP, account, now)
    user = await repo.get_user_by_username(session, username)
    if not verify_password(password, user.password_hash if user else None) or user is None or not user.is_active:
        if limits is not None:
            await limits.failed(rl.LOGIN_FAILURES_PER_IP, ip, now)
            await limits.failed(rl.LOGIN_FAILURES_PER_ACCOUNT_IP, account, now)
        raise _bad_credentials()
    if limits is not None:
        await limits.succeeded(rl.LOGIN_FAILURES_PER_ACCOUNT_IP, account)
    return await issue_tokens(session, settings=settings, user_id=user.id, now=now)


async def refresh(session: AsyncSession, *, settings: Settings, token: str, now: datetime) -> TokenPair:
    record = await repo.refresh_by_hash(session, _refresh_hash(settings, token))
    invalid = Unauthorized("auth.refresh_invalid", "刷新令牌无效，请重新登录", "Invalid refresh token")
    if record is None or record.revoked_at is not None:
        raise invalid
    if record.used_at is not None or not await repo.use_refresh(session, record.id, now):
        # reuse of a rotated token: someone holds a copy. Revoke the whole family (its access tokens too), and
        # keep that revocation.
        await repo.revoke_family(session, record.family_id, now)
        await audit.append(session, chain="system", action="auth.refresh_reused", entity_type="token_family",
                           entity_id=record.family_id, actor_id=record.user_id, at=now)
        session.info["commit_on_error"] = True
        raise Unauthorized("auth.refresh_reused", "刷新令牌已被使用，已注销该登录，请重新登录",
                           "Refresh token reuse detected; the session was revoked")
    if record.expires_at <= now:
        raise invalid
    user = await repo.get_user(session, record.user_id)
    if user is None or not user.is_active:
        raise invalid
    return await issue_tokens(session, settings=settings, user_id=user.id, now=now, family_id=record.family_id)


async def logout(session: AsyncSession, *, settings: Settings, token: str, now: datetime) -> None:
    """Revoke the token's family: its refresh tokens, and the access tokens issued with them."""
    record = await repo.refresh_by_hash(session, _refresh_hash(settings, token))
    if record is not None:
        await repo.revoke_family(session, record.family_id, now)


async def jscode2session(http: httpx.AsyncClient, settings: Settings, code: str) -> str:
    """Exchange a wx.login code for the user's openid at WeChat's server."""
    try:
        resp = await http.get(
            settings.wechat_api_base.rstrip("/") + "/sns/jscode2session",
            params={"appid": settings.wechat_appid, "secret": settings.wechat_secret, "js_code": code,
                    "grant_type": "authorization_code"},
            timeout=settings.wechat_timeout_s,
        )
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AppError("wechat.unavailable", "微信服务暂时不可用，请稍后重试", "WeChat is unavailable, retry later",
                       status=503) from exc
    if not isinstance(data, dict):
        raise AppError("wechat.unavailable", "微信服务返回异常", "Unexpected WeChat answer", status=503)
    if data.get("errcode"):
        raise Unauthorized("wechat.code_invalid", "微信登录凭证无效或已过期", "WeChat login code invalid or expired",
                           wechat_errcode=data.get("errcode"))
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        raise AppError("wechat.unavailable", "微信服务返回异常", "Unexpected WeChat answer", status=503)
    return openid


async def wechat_login(
    session: AsyncSession, *, settings: Settings, http: httpx.AsyncClient, code: str, now: datetime,
    limits: RateLimits | None = None, ip: str = "",
) -> WechatResult:
    if limits is not None:
        await limits.hit(rl.WECHAT_PER_IP, ip, now)
    openid = await jscode2session(http, settings, code)
    user = await repo.get_user_by_openid(session, openid)
    if user is not None and user.is_active:
        pair = await issue_tokens(session, settings=settings, user_id=user.id, now=now)
        return WechatResult(bound=True, **pair.model_dump())
    binding = create_token(
        secret=settings.secret_key, subject=openid, audience=settings.jwt_audience + BINDING_SUFFIX,
        issuer=settings.jwt_issuer, now=now, ttl=timedelta(minutes=settings.binding_token_minutes),
        extra={"typ": "binding"},
    )
    return WechatResult(bound=False, binding_token=binding)


def _openid_from_binding(settings: Settings, token: str, now: datetime) -> str:
    try:
        claims = decode_token(token, secret=settings.secret_key, audience=settings.jwt_audience + BINDING_SUFFIX,
                              issuer=settings.jwt_issuer, now=now)
    except TokenError as exc:
        raise Unauthorized("auth.binding_invalid", "微信绑定凭证无效或已过期，请重新登录",
                           "Binding token invalid or expired") from exc
    if claims.extra.get("typ") != "binding":
        raise Unauthorized("auth.binding_invalid", "微信绑定凭证无效", "Binding token invalid")
    return claims.sub


async def activate(
    session: AsyncSession, *, settings: Settings, body: ActivateRequest, now: datetime,
    current: Principal | None, limits: RateLimits | None = None, ip: str = "",
) -> ActivateResult:
    phone_ip = f"{body.phone}|{ip}"
    if limits is not None:
        await limits.hit(rl.ACTIVATE_PER_IP, ip, now)
        await limits.check(rl.ACTIVATE_FAILURES_PER_IP, ip, now)
        await limits.check(rl.ACTIVATE_FAILURES_PER_PHONE_IP, phone_ip, now)
    code = normalize_activation_code(body.activation_code)
    record = await repo.activation_code_by_hash(
        session, keyed_hash(settings.secret_key, code, purpose="activation"))
    if record is None or record.revoked_at is not None:
        # a wrong guess: slows down the address and the phone at that address, so codes cannot be enumerated
        if limits is not None:
            await limits.failed(rl.ACTIVATE_FAILURES_PER_IP, ip, now)
            await limits.failed(rl.ACTIVATE_FAILURES_PER_PHONE_IP, phone_ip, now)
        raise AppError("activation.code_invalid", "激活码无效", "Invalid activation code", status=400)
    if record.used_at is not None:
        raise Conflict("activation.code_used", "激活码已被使用", "Activation code already used")
    if record.expires_at <= now:
        raise AppError("activation.code_expired", "激活码已过期，请联系社区重新发放", "Activation code expired",
                       status=400)
    household = await DIRECTORY.directory().activation_target(session, household_id=record.household_id)
    if await repo.member_count(session, household.household_id) >= household.max_members:
        raise Conflict("activation.household_full", "该户绑定人数已达上限", "The household has its maximum members")

    openid = _openid_from_binding(settings, body.binding_token, now) if body.binding_token else None
    user: User | None = None
    if current is not None:
        user = await repo.get_user(session, current.user_id)
    elif openid is not None:
        user = await repo.get_user_by_openid(session, openid)
    if user is None:
        user = User(name=body.name.strip(), phone=body.phone, wechat_openid=openid, created_at=now)
        session.add(user)
        await session.flush()
    else:
        if openid is not None and user.wechat_openid is None:
            user.wechat_openid = openid
        if not user.phone:
            user.phone = body.phone
        session.add(user)
    if await repo.get_member(session, household.household_id, user.id) is not None:
        raise Conflict("activation.already_member", "您已是该户成员", "Already a member of this household")
    if not await repo.claim_activation_code(session, record.id, user.id, now):
        raise Conflict("activation.code_used", "激活码已被使用", "Activation code already used")
    if limits is not None:
        await limits.succeeded(rl.ACTIVATE_FAILURES_PER_PHONE_IP, phone_ip)
    session.add(HouseholdMember(household_id=household.household_id, user_id=user.id, relation=record.relation,
                                created_at=now))
    await audit.append(session, chain=household.community_id, action="household.member_added",
                       entity_type="household", entity_id=household.household_id, actor_id=user.id, at=now,
                       data={"relation": record.relation, "code_id": record.id})
    pair = await issue_tokens(session, settings=settings, user_id=user.id, now=now)
    return ActivateResult(**pair.model_dump(), household_id=household.household_id, relation=record.relation)


async def create_user(
    session: AsyncSession, *, username: str, password: str, name: str, now: datetime
) -> User:
    problems = password_problems(password)
    if problems:
        raise Invalid("auth.weak_password", "密码不符合要求：至少 10 位，且包含字母和数字或符号",
                      "Password too weak", errors=[{"loc": ["body", "password"], "msg": p} for p in problems])
    if await repo.get_user_by_username(session, username) is not None:
        raise Conflict("user.username_taken", "用户名已存在", "Username already taken")
    user = User(username=username, password_hash=hash_password(password), name=name, created_at=now)
    session.add(user)
    await session.flush()
    return user


async def grant(
    session: AsyncSession, *, user_id: str, role: Role, scope_id: str, now: datetime, by: str | None
) -> RoleGrant:
    if not await repo.grant_exists(session, user_id, role, scope_id):
        g = RoleGrant(user_id=user_id, role=role, scope_id=scope_id, created_at=now, created_by=by)
        session.add(g)
        await session.flush()
        return g
    return RoleGrant(user_id=user_id, role=role, scope_id=scope_id, created_at=now, created_by=by)


async def me(session: AsyncSession, *, holder: TokenHolder) -> Me:
    """The signed-in user, their grants and their households (one statement for the households: the user and
    grants came with the token check)."""
    by_role: dict[str, list[str]] = {}
    for role, scope_id in holder.grants:
        by_role.setdefault(role, []).append(scope_id)
    roles = [MyRole(role=r, scope_id=s) for r in (Role.ADMIN, Role.STAFF, Role.SUPERVISOR, Role.CONTRACTOR)
             for s in sorted(set(by_role.get(r.value, ())))]
    households = []
    for h in await DIRECTORY.directory().cards(session, user_id=holder.user_id):
        households.append(MyHousehold(
            household_id=h.household_id, community=CommunityRef(id=h.community.id, name=h.community.name),
            building=NamedRef(id=h.building.id, name=h.building.name), unit=NamedRef(id=h.unit.id, name=h.unit.name),
            room=h.room, area_m2=format_area(h.area_centi), relation=h.relation,
            may_act=h.relation in (Relation.OWNER, Relation.CO_OWNER)))
    if households:
        roles.append(MyRole(role=Role.RESIDENT, scope_id=households[0].community.id))
    return Me(
        user=MeUser(id=holder.user_id, name=holder.name, username=holder.username, phone=holder.phone,
                    wechat_bound=holder.wechat_bound, created_at=holder.created_at),
        roles=roles, households=households,
    )


async def user_or_404(session: AsyncSession, *, user_id: str) -> User:
    """The user (for other domains, e.g. granting staff), or 404 ``user.not_found``."""
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound("user.not_found", "用户不存在", "User not found")
    return user


@dataclass(frozen=True)
class NewCode:
    household_id: str
    code: str  # shown once; only its keyed hash is stored
    expires_at: datetime


async def issue_activation_codes(session: AsyncSession, *, settings: Settings, household_ids: list[str],
                                 relation: str, now: datetime, by: str) -> list[NewCode]:
    """One new code per household, revoking that household's unused ones; stored as keyed hashes."""
    await repo.revoke_open_codes(session, household_ids, now)
    expires = now + timedelta(days=settings.activation_code_days)
    issued = [NewCode(household_id=h, code=new_activation_code(), expires_at=expires) for h in household_ids]
    await repo.add_activation_codes(session, [
        {"id": new_id(), "household_id": c.household_id, "relation": relation, "expires_at": expires,
         "code_hash": keyed_hash(settings.secret_key, c.code, purpose="activation"), "created_at": now,
         "created_by": by} for c in issued])
    return issued



@dataclass(frozen=True)
class Member:
    user_id: str
    name: str
    phone: str | None
    relation: str
    joined_at: datetime


async def household_members(session: AsyncSession, *, household_id: str) -> list[Member]:
    """The users bound to a household, in the order they joined."""
    return [Member(user_id=u.id, name=u.name, phone=u.phone, relation=m.relation, joined_at=m.created_at)
            for m, u in await repo.members_of(session, household_id)]


async def unbind_member(session: AsyncSession, *, household_id: str, user_id: str) -> bool:
    """Take a user off a household (False if they were not on it). Their sign-ins stay; the principal of their
    next request no longer holds the household."""
    return await repo.delete_member(session, household_id, user_id)


async def unbind_household(session: AsyncSession, *, household_id: str, now: datetime) -> list[str]:
    """Take every member off a household and revoke its unused activation codes (an ownership transfer):
    the ids of the users who were members."""
    members = [m.user_id for m in await household_members(session, household_id=household_id)]
    for user_id in members:
        await repo.delete_member(session, household_id, user_id)
    await repo.revoke_open_codes(session, [household_id], now)
    return members
