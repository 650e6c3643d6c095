"""Sign-in and identity shapes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)


class WechatLogin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128)


class WechatResult(BaseModel):
    bound: bool
    access_token: str | None = None
    refresh_token: str | None = None
    token_type: str | None = None
    expires_in: int | None = None
    binding_token: str | None = None


class ActivateRequest(BaseModel):
    """``phone`` typed by the resident, or ``phone_code`` from the mini-program's phone-number button (the
    number WeChat verified is stored): exactly one of the two."""

    model_config = ConfigDict(extra="forbid")
    activation_code: str = Field(min_length=4, max_length=40)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,15}$")
    phone_code: str | None = Field(default=None, min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=50)
    binding_token: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_phone(self) -> ActivateRequest:
        if (self.phone is None) == (self.phone_code is None):
            raise ValueError("give phone or phone_code (not both)")
        return self


class JoinRequest(BaseModel):
    """Join a household with an invitation. The joining user is the signed-in one (``Authorization``), else the
    WeChat user of ``binding_token`` (from ``POST /auth/wechat``), else a new account. Someone not signed in
    gives ``phone`` (typed) or ``phone_code`` (the phone-number button; the number WeChat verified is stored),
    not both, and ``name``; a signed-in user may leave all three out (their account keeps its own)."""

    model_config = ConfigDict(extra="forbid")
    invite_code: str = Field(min_length=4, max_length=40, description="as shown or scanned: XXXX-XXXX; case, "
                             "blanks and dashes do not matter")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{6,15}$")
    phone_code: str | None = Field(default=None, min_length=1, max_length=128)
    name: str | None = Field(default=None, min_length=1, max_length=50)
    binding_token: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _not_both(self) -> JoinRequest:
        if self.phone is not None and self.phone_code is not None:
            raise ValueError("give phone or phone_code (not both)")
        return self


class JoinResult(TokenPair):
    household_id: str
    relation: str


class WechatPhoneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128, description="the code of the phone-number button "
                      "(open-type=getPhoneNumber); each code works once")


class PhoneVerified(BaseModel):
    phone: str = Field(description="as stored: the bare number in mainland China, else +<country><number>")
    pure_phone_number: str
    country_code: str
    verified_at: datetime


class ActivateResult(TokenPair):
    household_id: str
    relation: str


class CommunityRef(BaseModel):
    id: str
    name: str


class NamedRef(BaseModel):
    id: str
    name: str


class MyHousehold(BaseModel):
    household_id: str
    community: CommunityRef
    building: NamedRef
    unit: NamedRef
    room: str
    area_m2: str
    relation: str
    may_act: bool


class MyRole(BaseModel):
    role: str
    scope_id: str


class MeUser(BaseModel):
    id: str
    name: str
    username: str | None
    phone: str | None
    phone_verified: bool
    wechat_bound: bool
    created_at: datetime


class Me(BaseModel):
    user: MeUser
    roles: list[MyRole]
    households: list[MyHousehold]


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=10, max_length=200)
