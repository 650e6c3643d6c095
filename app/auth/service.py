"""Sign-in: passwords for staff, activation codes, invitations and WeChat for residents, rotating refresh
tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import repository as repo
from app.auth.contracts import DIRECTORY
from app.auth.models import (
    ActivationCode,
    HouseholdInvite,
    HouseholdMember,
    RefreshToken,
    Relation,
    Role,
    RoleGrant,
    User,
)
from app.auth.policy import Principal
from app.auth.repository import TokenHolder
from app.auth.schemas import (
    ActivateRequest,
    ActivateResult,
    CommunityRef,
    JoinRequest,
    JoinResult,
    Me,
    MeUser,
    MyHousehold,
    MyRole,
    NamedRef,
    PhoneVerified,
    TokenPair,
    WechatResult,
)
from app.core import audit
from app.core import ratelimit as rl
from app.core.config import Settings
from app.core.db import new_id
from app.core.errors import AppError, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from app.core.privacy import mask_phone
from app.core.ratelimit import RateLimits
from app.core.security import (
    TokenError,
    create_token,
    decode_token,
    hash_password,
    keyed_hash,
    new_activation_code,
    new_invite_code,
    new_opaque_token,
    normalize_activation_code,
    normalize_invite_code,
    password_problems,
    verify_password,
)
from app.core.units import format_area
from app.core.wechat import PhoneNumber, WechatClient, WechatRefused

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


def _wechat_code_invalid(exc: WechatRefused) -> Unauthorized:
    return Unauthorized("wechat.code_invalid", "微信登录凭证无效或已过期", "WeChat login code invalid or expired",
                        wechat_errcode=exc.errcode)


async def wechat_login(
    session: AsyncSession, *, settings: Settings, wechat: WechatClient, code: str, now: datetime,
    limits: RateLimits | None = None, ip: str = "",
) -> WechatResult:
    """WeChat is asked before the first statement of the request's transaction (on SQLite that statement takes
    the one writer, which must not wait for WeChat)."""
    if limits is not None:
        await limits.hit(rl.WECHAT_PER_IP, ip, now)
    try:
        found = await wechat.jscode2session(code)
    except WechatRefused as exc:
        raise _wechat_code_invalid(exc) from exc
    user = await repo.get_user_by_openid(session, found.openid)
    if user is not None and user.is_active:
        await _store_unionid(session, user, found.unionid, now)
        pair = await issue_tokens(session, settings=settings, user_id=user.id, now=now)
        return WechatResult(bound=True, **pair.model_dump())
    extra: dict[str, str] = {"typ": "binding"}
    if found.unionid:
        extra["uid"] = found.unionid
    binding = create_token(
        secret=settings.secret_key, subject=found.openid, audience=settings.jwt_audience + BINDING_SUFFIX,
        issuer=settings.jwt_issuer, now=now, ttl=timedelta(minutes=settings.binding_token_minutes), extra=extra,
    )
    return WechatResult(bound=False, binding_token=binding)


async def _store_unionid(session: AsyncSession, user: User, unionid: str | None, now: datetime) -> None:
    """Keep the unionid WeChat sent (audited when it changes)."""
    if not unionid or user.wechat_unionid == unionid:
        return
    had = user.wechat_unionid is not None
    user.wechat_unionid = unionid
    session.add(user)
    await audit.append(session, chain="system", action="user.wechat_unionid_stored", entity_type="user",
                       entity_id=user.id, actor_id=user.id, at=now, data={"replaced": had})


@dataclass(frozen=True)
class Binding:
    openid: str
    unionid: str | None


def _binding(settings: Settings, token: str, now: datetime) -> Binding:
    try:
        claims = decode_token(token, secret=settings.secret_key, audience=settings.jwt_audience + BINDING_SUFFIX,
                              issuer=settings.jwt_issuer, now=now)
    except TokenError as exc:
        raise Unauthorized("auth.binding_invalid", "微信绑定凭证无效或已过期，请重新登录",
                           "Binding token invalid or expired") from exc
    if claims.extra.get("typ") != "binding":
        raise Unauthorized("auth.binding_invalid", "微信绑定凭证无效", "Binding token invalid")
    uid = claims.extra.get("uid")
    return Binding(openid=claims.sub, unionid=uid if isinstance(uid, str) and uid else None)


# ---- the verified phone number (WeChat's phone-number button) ------------------------------------------------

async def exchange_phone(*, wechat: WechatClient, code: str, field: str) -> PhoneNumber:
    """The number WeChat verified for the button's code. A code WeChat refuses (invalid, or used: each works
    once) → 422 ``wechat.code_invalid`` with WeChat's errcode; WeChat down or slow → 502/503
    ``wechat.unavailable`` (:mod:`app.core.wechat`)."""
    try:
        return await wechat.phone_number(code)
    except WechatRefused as exc:
        raise Invalid("wechat.code_invalid", "手机号授权码无效或已使用，请重新点击获取手机号",
                      "Phone-number code invalid or already used; ask the user again",
                      errors=[{"loc": ["body", field], "msg": "refused by WeChat"}],
                      wechat_errcode=exc.errcode) from exc


def require_wechat(*, holder: TokenHolder) -> None:
    """Only a user signed in through WeChat verifies a phone by WeChat: the number belongs to the WeChat account
    that tapped the button, which is known to be this user only when the user is bound to it."""
    if not holder.wechat_bound:
        raise Forbidden("wechat.not_bound", "请先通过微信小程序登录", "Only a user signed in through WeChat can do this")


async def verify_phone(session: AsyncSession, *, user_id: str, phone: PhoneNumber, now: datetime) -> PhoneVerified:
    """The signed-in user's phone becomes the number WeChat verified (audited, the number masked)."""
    user = await repo.get_user(session, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("auth.token_invalid", "令牌无效", "Invalid token")
    number = phone.normalized
    changed = user.phone != number
    user.phone, user.phone_verified_at = number, now
    session.add(user)
    await audit.append(session, chain="system", action="user.phone_verified", entity_type="user", entity_id=user.id,
                       actor_id=user.id, at=now, data={"phone": mask_phone(number), "changed": changed})
    return PhoneVerified(phone=number, pure_phone_number=phone.pure_phone_number, country_code=phone.country_code,
                         verified_at=now)


# ---- activation --------------------------------------------------------------------------------------------

def _attempt_key(settings: Settings, body: ActivateRequest | JoinRequest, now: datetime,
                 current: Principal | None) -> str:
    """Whose wrong codes slow down whom: the typed phone, else (a verified phone is not known before the code
    is checked) the WeChat user of the binding token, else the signed-in user. Activation codes and invitations
    count against the same limits: a guesser gains nothing by switching between them."""
    if body.phone:
        return body.phone
    if body.binding_token:
        return "wx:" + _binding(settings, body.binding_token, now).openid
    return "user:" + current.user_id if current is not None else "-"


async def _start_attempt(limits: RateLimits | None, *, ip: str, key: str, now: datetime) -> None:
    if limits is not None:
        await limits.hit(rl.ACTIVATE_PER_IP, ip, now)
        await limits.check(rl.ACTIVATE_FAILURES_PER_IP, ip, now)
        await limits.check(rl.ACTIVATE_FAILURES_PER_PHONE_IP, f"{key}|{ip}", now)


async def _usable_code(session: AsyncSession, *, settings: Settings, text: str, now: datetime,
                       limits: RateLimits | None, ip: str, key: str) -> ActivationCode:
    code = normalize_activation_code(text)
    record = await repo.activation_code_by_hash(
        session, keyed_hash(settings.secret_key, code, purpose="activation"))
    if record is None or (record.revoked_at is not None and record.replaced_by is None):
        # a wrong guess: slows down the address and the phone at that address, so codes cannot be enumerated
        if limits is not None:
            await limits.failed(rl.ACTIVATE_FAILURES_PER_IP, ip, now)
            await limits.failed(rl.ACTIVATE_FAILURES_PER_PHONE_IP, f"{key}|{ip}", now)
        raise AppError("activation.code_invalid", "激活码无效", "Invalid activation code", status=400)
    if record.revoked_at is not None:
        raise Conflict("activation.code_replaced", "该激活码已被社区新发放的激活码替换，请使用最新的激活码",
                       "This code was replaced by a newer one for the same household; use the latest code")
    if record.used_at is not None:
        raise Conflict("activation.code_used", "激活码已被使用", "Activation code already used")
    if record.expires_at <= now:
        raise AppError("activation.code_expired", "激活码已过期，请联系社区重新发放", "Activation code expired",
                       status=400)
    return record


async def precheck_activation(
    *, reader: AsyncSession, settings: Settings, body: ActivateRequest, now: datetime, current: Principal | None,
    limits: RateLimits | None = None, ip: str = "",
) -> None:
    """Before a ``phone_code`` is spent (each works once, and WeChat charges for it): the attempt is counted and
    the activation code checked on a read connection, so a wrong code answers as it would without the phone
    code and the request's write transaction does not wait for WeChat. :func:`activate` follows with
    ``verified``; it does not count the attempt again."""
    key = _attempt_key(settings, body, now, current)
    await _start_attempt(limits, ip=ip, key=key, now=now)
    await _usable_code(reader, settings=settings, text=body.activation_code, now=now, limits=limits, ip=ip, key=key)


async def _bound_account(session: AsyncSession, *, user: User | None, name: str, phone: str | None,
                         binding: Binding | None, verified: PhoneNumber | None, now: datetime) -> User:
    """The account that activation or an invitation binds: a new one (``user`` None: ``name``, ``phone``, the
    WeChat binding), or ``user`` completed with the binding's openid and unionid, and the phone number — replaced
    when WeChat verified it, else only filled in when the account had none (a typed number never overwrites)."""
    if user is None:
        user = User(name=name.strip(), phone=phone, wechat_openid=binding.openid if binding else None,
                    wechat_unionid=binding.unionid if binding else None,
                    phone_verified_at=now if verified is not None else None, created_at=now)
        session.add(user)
        await session.flush()
        return user
    if binding is not None and user.wechat_openid is None:
        user.wechat_openid = binding.openid
    if binding is not None and binding.unionid and user.wechat_openid == binding.openid:
        user.wechat_unionid = binding.unionid
    if verified is not None:
        user.phone, user.phone_verified_at = phone, now
    elif phone and not user.phone:
        user.phone = phone
    session.add(user)
    return user


async def activate(
    session: AsyncSession, *, settings: Settings, body: ActivateRequest, now: datetime,
    current: Principal | None, limits: RateLimits | None = None, ip: str = "", verified: PhoneNumber | None = None,
) -> ActivateResult:
    """Bind the user (the signed-in one, the WeChat user of the binding token, or a new one) to the code's
    household. ``verified``: the number WeChat verified for ``body.phone_code`` (after
    :func:`precheck_activation`)."""
    key = _attempt_key(settings, body, now, current)
    if verified is None:
        if body.phone is None:
            raise Invalid(errors=[{"loc": ["body", "phone"], "msg": "give phone or phone_code"}])
        await _start_attempt(limits, ip=ip, key=key, now=now)
    record = await _usable_code(session, settings=settings, text=body.activation_code, now=now, limits=limits,
                                ip=ip, key=key)
    household = await DIRECTORY.directory().activation_target(session, household_id=record.household_id)
    if await repo.member_count(session, household.household_id) >= household.max_members:
        raise Conflict("activation.household_full", "该户绑定人数已达上限", "The household has its maximum members")

    binding = _binding(settings, body.binding_token, now) if body.binding_token else None
    phone = verified.normalized if verified is not None else body.phone
    user: User | None = None
    if current is not None:
        user = await repo.get_user(session, current.user_id)
    elif binding is not None:
        user = await repo.get_user_by_openid(session, binding.openid)
    user = await _bound_account(session, user=user, name=body.name, phone=phone, binding=binding,
                                verified=verified, now=now)
    if await repo.get_member(session, household.household_id, user.id) is not None:
        raise Conflict("activation.already_member", "您已是该户成员", "Already a member of this household")
    if not await repo.claim_activation_code(session, record.id, user.id, now):
        raise Conflict("activation.code_used", "激活码已被使用", "Activation code already used")
    if limits is not None:
        await limits.succeeded(rl.ACTIVATE_FAILURES_PER_PHONE_IP, f"{key}|{ip}")
    session.add(HouseholdMember(household_id=household.household_id, user_id=user.id, relation=record.relation,
                                created_at=now))
    await audit.append(session, chain=household.community_id, action="household.member_added",
                       entity_type="household", entity_id=household.household_id, actor_id=user.id, at=now,
                       data={"relation": record.relation, "code_id": record.id,
                             "phone_verified": verified is not None})
    pair = await issue_tokens(session, settings=settings, user_id=user.id, now=now)
    return ActivateResult(**pair.model_dump(), household_id=household.household_id, relation=record.relation)


# ---- invitations: family members and tenants join a household ---------------------------------------------

INVITABLE = frozenset({Relation.FAMILY, Relation.TENANT})


def _invite_state_problem(invite: HouseholdInvite, now: datetime) -> AppError | None:
    """Why an issued invitation no longer works (revoked, used, expired), or None."""
    if invite.revoked_at is not None:
        return AppError("invite.revoked", "该邀请已被撤销，请让业主重新邀请", "This invitation was revoked; ask for a "
                        "new one", status=410)
    if invite.used_at is not None:
        return Conflict("invite.used", "该邀请已被使用，每个邀请只能使用一次", "This invitation was already used")
    if invite.expires_at <= now:
        return AppError("invite.expired", "该邀请已过期，请让业主重新邀请", "This invitation has expired; ask for a "
                        "new one", status=410)
    return None


def _invite_hash(settings: Settings, code: str) -> str:
    return keyed_hash(settings.secret_key, normalize_invite_code(code), purpose="invite")


async def _usable_invite(session: AsyncSession, *, settings: Settings, text: str, now: datetime,
                         limits: RateLimits | None, ip: str, key: str) -> HouseholdInvite:
    record = await repo.invite_by_hash(session, _invite_hash(settings, text))
    if record is None:
        # a wrong guess: counted exactly as a wrong activation code (the same limits)
        if limits is not None:
            await limits.failed(rl.ACTIVATE_FAILURES_PER_IP, ip, now)
            await limits.failed(rl.ACTIVATE_FAILURES_PER_PHONE_IP, f"{key}|{ip}", now)
        raise AppError("invite.invalid", "邀请码无效", "Invalid invitation code", status=400)
    if (problem := _invite_state_problem(record, now)) is not None:
        raise problem
    return record


async def _joining_user(session: AsyncSession, *, settings: Settings, body: JoinRequest, now: datetime,
                        current: Principal | None) -> tuple[User | None, Binding | None]:
    """The existing account that joins (signed in, or bound to the binding token's WeChat user), or None for a
    new one; then what a new account needs (a phone or phone code, a name) must be there: 422 before anything
    is spent."""
    binding = _binding(settings, body.binding_token, now) if body.binding_token else None
    user: User | None = None
    if current is not None:
        user = await repo.get_user(session, current.user_id)
    elif binding is not None:
        user = await repo.get_user_by_openid(session, binding.openid)
    if user is None:
        missing = []
        if body.phone is None and body.phone_code is None:
            missing.append({"loc": ["body", "phone"], "msg": "give phone or phone_code (a new account)"})
        if body.name is None:
            missing.append({"loc": ["body", "name"], "msg": "required for a new account"})
        if missing:
            raise Invalid(errors=missing)
    return user, binding


async def precheck_join(
    *, reader: AsyncSession, settings: Settings, body: JoinRequest, now: datetime, current: Principal | None,
    limits: RateLimits | None = None, ip: str = "",
) -> None:
    """Before a ``phone_code`` is spent: the attempt counted, the invitation and the request checked on a read
    connection (as :func:`precheck_activation`); :func:`join` follows with ``verified``."""
    key = _attempt_key(settings, body, now, current)
    await _start_attempt(limits, ip=ip, key=key, now=now)
    await _usable_invite(reader, settings=settings, text=body.invite_code, now=now, limits=limits, ip=ip, key=key)
    await _joining_user(reader, settings=settings, body=body, now=now, current=current)


async def join(
    session: AsyncSession, *, settings: Settings, body: JoinRequest, now: datetime, current: Principal | None,
    limits: RateLimits | None = None, ip: str = "", verified: PhoneNumber | None = None,
) -> JoinResult:
    """Bind the joining user (the signed-in one, the binding token's WeChat user, or a new account) to the
    invitation's household with its relation; the invitation is used (once: a compare-and-set, so of two joins
    at once exactly one succeeds). The household row is locked first, so its member cap holds under concurrency
    (409 ``activation.household_full``). Audited. ``verified``: WeChat's number for ``body.phone_code``."""
    key = _attempt_key(settings, body, now, current)
    if verified is None:
        if body.phone_code is not None:
            raise Invalid(errors=[{"loc": ["body", "phone_code"], "msg": "not verified"}])
        await _start_attempt(limits, ip=ip, key=key, now=now)
    record = await _usable_invite(session, settings=settings, text=body.invite_code, now=now, limits=limits, ip=ip,
                                  key=key)
    user, binding = await _joining_user(session, settings=settings, body=body, now=now, current=current)
    household = await DIRECTORY.directory().activation_target(session, household_id=record.household_id)  # locked
    if await repo.member_count(session, household.household_id) >= household.max_members:
        raise Conflict("activation.household_full", "该户绑定人数已达上限", "The household has its maximum members")
    phone = verified.normalized if verified is not None else body.phone
    new_account = user is None
    if user is None:
        assert body.name is not None and phone is not None  # _joining_user
    user = await _bound_account(session, user=user, name=body.name or "", phone=phone, binding=binding,
                                verified=verified, now=now)
    if await repo.get_member(session, household.household_id, user.id) is not None:
        raise Conflict("activation.already_member", "您已是该户成员", "Already a member of this household")
    if not await repo.claim_invite(session, record.id, user.id, now):
        fresh = await repo.get_invite(session, record.id)
        raise (_invite_state_problem(fresh, now) if fresh is not None else None) or Conflict(
            "invite.used", "该邀请已被使用，每个邀请只能使用一次", "This invitation was already used")
    if limits is not None:
        await limits.succeeded(rl.ACTIVATE_FAILURES_PER_PHONE_IP, f"{key}|{ip}")
    session.add(HouseholdMember(household_id=household.household_id, user_id=user.id, relation=record.relation,
                                created_at=now))
    await session.flush()
    await audit.append(session, chain=household.community_id, action="household.member_joined",
                       entity_type="household", entity_id=household.household_id, actor_id=user.id, at=now,
                       data={"relation": record.relation, "invite_id": record.id, "invited_by": record.created_by,
                             "new_account": new_account, "phone_verified": verified is not None})
    pair = await issue_tokens(session, settings=settings, user_id=user.id, now=now)
    return JoinResult(**pair.model_dump(), household_id=household.household_id, relation=record.relation)


@dataclass(frozen=True)
class InviteInfo:
    id: str
    household_id: str
    relation: str
    expires_at: datetime
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class NewInvite(InviteInfo):
    code: str  # shown once; only its keyed hash is stored


def _info(i: HouseholdInvite) -> InviteInfo:
    return InviteInfo(id=i.id, household_id=i.household_id, relation=i.relation, expires_at=i.expires_at,
                      created_at=i.created_at, created_by=i.created_by)


async def issue_invite(session: AsyncSession, *, settings: Settings, household_id: str, relation: str,
                       max_members: int, now: datetime, by: str) -> NewInvite:
    """A one-time invitation for a family member or tenant (422 ``invite.relation_not_invitable`` for an owner
    or co-owner: they activate with staff's codes), valid ``settings.invite_hours``. Refused while the household
    is full (409 ``activation.household_full``) or has ``settings.invite_max_open`` open invitations (409
    ``invite.too_many_open``). The caller has authorized and audits."""
    if relation not in INVITABLE:
        raise Invalid("invite.relation_not_invitable", "只能邀请家庭成员或租户；业主和共有人须使用社区发放的激活码",
                      "Only family members and tenants are invited; owners and co-owners activate with a code "
                      "from community staff", errors=[{"loc": ["body", "relation"], "msg": "family or tenant"}])
    if await repo.member_count(session, household_id) >= max_members:
        raise Conflict("activation.household_full", "该户绑定人数已达上限", "The household has its maximum members")
    if await repo.open_invite_count(session, household_id, now) >= settings.invite_max_open:
        raise Conflict("invite.too_many_open", "本户未使用的邀请过多，请先撤销不用的邀请",
                       "Too many open invitations for this household; revoke unused ones first",
                       limit=settings.invite_max_open)
    while True:  # 30^8 codes: a clash with a stored one is all but impossible, and then simply drawn again
        code = new_invite_code()
        code_hash = _invite_hash(settings, code)
        if await repo.invite_by_hash(session, code_hash) is None:
            break
    invite = await repo.add_invite(session, HouseholdInvite(
        household_id=household_id, code_hash=code_hash, relation=relation,
        expires_at=now + timedelta(hours=settings.invite_hours), created_at=now, created_by=by))
    return NewInvite(**_info(invite).__dict__, code=code)


async def open_invites(session: AsyncSession, *, household_id: str, now: datetime) -> list[InviteInfo]:
    """The household's invitations still waiting (not used, revoked or expired), oldest first."""
    return [_info(i) for i in await repo.open_invites(session, household_id, now)]


async def revoke_invite(session: AsyncSession, *, household_id: str, invite_id: str, now: datetime,
                        by: str) -> InviteInfo:
    """Revoke a waiting invitation of the household: 404 ``invite.not_found`` (none of this household), 409
    ``invite.used``, 410 ``invite.revoked`` / ``invite.expired`` when it no longer waits."""
    invite = await repo.get_invite(session, invite_id)
    if invite is None or invite.household_id != household_id:
        raise NotFound("invite.not_found", "邀请不存在", "Invitation not found")
    if (problem := _invite_state_problem(invite, now)) is not None:
        raise problem
    if not await repo.revoke_invite(session, invite.id, now, by):
        fresh = await repo.get_invite(session, invite.id)
        raise (_invite_state_problem(fresh, now) if fresh is not None else None) or Conflict(
            "invite.used", "该邀请已被使用", "This invitation was already used")
    return _info(invite)


async def revoke_invites_of(session: AsyncSession, *, household_id: str, user_id: str, now: datetime) -> list[str]:
    """Revoke the waiting invitations ``user_id`` issued for the household (they leave it, or are taken off):
    the ids revoked."""
    return await repo.revoke_open_invites(session, household_id, now, created_by=user_id)


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
                    phone_verified=holder.phone_verified, wechat_bound=holder.wechat_bound,
                    created_at=holder.created_at),
        roles=roles, households=households,
    )


async def user_or_404(session: AsyncSession, *, user_id: str) -> User:
    """The user (for other domains, e.g. granting staff), or 404 ``user.not_found``."""
    user = await repo.get_user(session, user_id)
    if user is None:
        raise NotFound("user.not_found", "用户不存在", "User not found")
    return user



async def wechat_openid(session: AsyncSession, *, user_id: str) -> str | None:
    """The openid of a user who signed in through WeChat (None for password and typed-phone users): whose
    posts WeChat's content security checks (:mod:`app.core.content`)."""
    user = await repo.get_user(session, user_id)
    return user.wechat_openid if user is not None else None


@dataclass(frozen=True)
class NewCode:
    id: str
    household_id: str
    code: str  # shown once; only its keyed hash is stored
    expires_at: datetime
    replaced: int  # unused codes of the same household and relation this one replaced (0 or 1)


async def issue_activation_codes(session: AsyncSession, *, settings: Settings, household_ids: list[str],
                                 relation: str, now: datetime, by: str) -> list[NewCode]:
    """One new code per household for ``relation``, stored as a keyed hash. It replaces that household's unused
    code of the same relation (which then answers ``activation.code_replaced``); codes for other relations (an
    owner's and a co-owner's) stay valid side by side."""
    unique = list(dict.fromkeys(household_ids))
    old = await repo.open_codes(session, unique, relation)
    per_household: dict[str, list[str]] = {}
    for code_id, household_id in old:
        per_household.setdefault(household_id, []).append(code_id)
    expires = now + timedelta(days=settings.activation_code_days)
    issued = [NewCode(id=new_id(), household_id=h, code=new_activation_code(), expires_at=expires,
                      replaced=len(per_household.get(h, ()))) for h in household_ids]
    await repo.replace_codes(session, [(o, c.id) for c in issued for o in per_household.pop(c.household_id, ())], now)
    await repo.add_activation_codes(session, [
        {"id": c.id, "household_id": c.household_id, "relation": relation, "expires_at": expires,
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


async def member_relation(session: AsyncSession, *, household_id: str, user_id: str) -> str | None:
    """The user's relation to the household, or None if they are not a member."""
    m = await repo.get_member(session, household_id, user_id)
    return m.relation if m is not None else None


async def unbind_member(session: AsyncSession, *, household_id: str, user_id: str) -> bool:
    """Take a user off a household (False if they were not on it). Their sign-ins stay; the principal of their
    next request no longer holds the household."""
    return await repo.delete_member(session, household_id, user_id)


async def unbind_household(session: AsyncSession, *, household_id: str, now: datetime) -> list[str]:
    """Take every member off a household and revoke its unused activation codes and invitations (an ownership
    transfer, a deactivation): the ids of the users who were members."""
    members = [m.user_id for m in await household_members(session, household_id=household_id)]
    for user_id in members:
        await repo.delete_member(session, household_id, user_id)
    await repo.revoke_open_codes(session, [household_id], now)
    await repo.revoke_open_invites(session, household_id, now)
    return members
