"""Household invitations (issue 20): owners, co-owners and staff invite family members and tenants with a
one-time code; ``POST /auth/join`` binds the WeChat, signed-in or new user; the members list and removal with
every permission case; a removed member no longer acts for the household on their next request."""

from __future__ import annotations

import asyncio
import re

import httpx
from sqlmodel import select

from app.auth.models import HouseholdInvite, User
from app.core.models import AuditEntry
from app.core.ratelimit import ACTIVATE_FAILURES_PER_PHONE_IP
from tests.core.test_ratelimit import limited  # noqa: F401 - the rate-limited app fixture
from tests.factories import add_staff, auth, build_world, create_community
from tests.surveys.helpers import answer, make_questionnaire
from tests.voting.helpers import add_member, setup_motion, vote

API = "/api/v1"
CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}$")


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.seq))).all())


async def _invite(client, headers: dict, household_id: str, relation: str = "family") -> dict:
    r = await client.post(f"{API}/households/{household_id}/invites", headers=headers, json={"relation": relation})
    assert r.status_code == 201, r.text
    return r.json()


async def _join(client, code: str, *, name: str | None = "家人", phone: str | None = "13900000001",
                headers: dict | None = None, **extra) -> httpx.Response:
    body: dict = {"invite_code": code} | extra
    if name is not None:
        body["name"] = name
    if phone is not None:
        body["phone"] = phone
    return await client.post(f"{API}/auth/join", headers=headers or {}, json=body)


async def _refreshed(client, resident) -> dict:
    """Fresh tokens for a resident after the clock moved past their access token's 15 minutes."""
    r = await client.post(f"{API}/auth/refresh", json={"refresh_token": resident.refresh_token})
    assert r.status_code == 200, r.text
    resident.token, resident.refresh_token = r.json()["access_token"], r.json()["refresh_token"]
    return resident.headers


async def _members(client, headers: dict, household_id: str) -> httpx.Response:
    return await client.get(f"{API}/households/{household_id}/members", headers=headers)


async def test_owner_invites_and_a_new_user_joins_by_phone(app, client, world, clock, settings) -> None:
    owner = world.residents[0]
    hid = owner.household_id
    issued = await _invite(client, owner.headers, hid)
    assert CODE.match(issued["code"]), issued["code"]
    assert issued["relation"] == "family" and issued["household_id"] == hid and issued["created_by"] == owner.user_id
    assert issued["expires_at"].startswith("2026-11-26T02:00")  # 72 hours from 2026-11-23 02:00 UTC
    compact = issued["code"].replace("-", "")
    assert issued["share"] == {"title": "邀请您作为家庭成员加入幸福里小区", "path": f"pages/join/index?invite={compact}",
                               "page": "pages/join/index", "scene": f"invite={compact}"}
    assert len(issued["share"]["scene"]) <= 32
    # only a keyed hash is stored, and the audit entry never holds the code
    async with app.state.db.read_session() as s:
        [row] = (await s.exec(select(HouseholdInvite))).all()
    assert compact not in row.code_hash and issued["code"] not in row.code_hash and len(row.code_hash) == 64
    [entry] = await _audit(app, "household.invite_issued")
    assert entry.entity_id == hid and entry.actor_id == owner.user_id and entry.chain == world.community_id
    assert entry.data["relation"] == "family" and entry.data["by_staff"] is False
    assert compact not in str(entry.data) and issued["code"] not in str(entry.data)

    # typed as the family member would: lower case, a blank instead of the dash
    typed = f"{compact[:4].lower()} {compact[4:].lower()}"
    r = await _join(client, typed, name="家属甲", phone="13900000001")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["household_id"] == hid and body["relation"] == "family" and body["token_type"] == "bearer"
    me = (await client.get(f"{API}/me", headers=auth(body["access_token"]))).json()
    assert [(h["household_id"], h["relation"], h["may_act"]) for h in me["households"]] == [(hid, "family", False)]
    assert me["user"]["name"] == "家属甲" and me["user"]["phone"] == "13900000001"
    assert me["user"]["phone_verified"] is False and me["user"]["wechat_bound"] is False
    # each code works once
    r = await _join(client, issued["code"], name="冒用者", phone="13900000002")
    assert r.status_code == 409 and r.json()["code"] == "invite.used"
    assert r.headers["content-type"].startswith("application/problem+json")
    [joined] = await _audit(app, "household.member_joined")
    assert joined.actor_id == me["user"]["id"] and joined.entity_id == hid
    assert joined.data == {"relation": "family", "invite_id": issued["id"], "invited_by": owner.user_id,
                           "new_account": True, "phone_verified": False}
    # the members list as the owner sees it: relation, masked name and phone of others, joined at
    rows = (await _members(client, owner.headers, hid)).json()
    assert [(m["relation"], m["is_me"]) for m in rows] == [("owner", True), ("family", False)]
    assert rows[1]["name"] == "家**" and rows[1]["phone"] == "139****0001"
    assert rows[1]["joined_at"].startswith("2026-11-23T02:00")


async def test_join_through_wechat_with_the_phone_button(app, client, wechat, world) -> None:
    owner = world.residents[0]
    issued = await _invite(client, owner.headers, owner.household_id, "tenant")
    wechat.codes["login-t"], wechat.unionids["openid-t"] = "openid-t", "union-t"
    binding = (await client.post(f"{API}/auth/wechat", json={"code": "login-t"})).json()["binding_token"]
    wechat.phone_codes["ph-t"] = "13711112222"
    # a wrong invitation does not spend the one-time phone code: WeChat is not asked
    r = await _join(client, "ZZZZ-ZZZZ", name="租户", phone=None, phone_code="ph-t", binding_token=binding)
    assert r.status_code == 400 and r.json()["code"] == "invite.invalid"
    # nor does a request that lacks what a new account needs
    r = await _join(client, issued["code"], name=None, phone=None, phone_code="ph-t", binding_token=binding)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "name"]
    assert wechat.phone_calls() == []
    # phone and phone_code together: 422
    r = await _join(client, issued["code"], phone="13700000000", phone_code="ph-t", binding_token=binding)
    assert r.status_code == 422 and r.json()["code"] == "validation.failed"

    r = await _join(client, issued["code"], name="租户", phone=None, phone_code="ph-t", binding_token=binding)
    assert r.status_code == 200, r.text
    assert r.json()["relation"] == "tenant"
    headers = auth(r.json()["access_token"])
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert me["user"]["phone"] == "13711112222" and me["user"]["phone_verified"] is True
    assert me["user"]["wechat_bound"] is True
    async with app.state.db.read_session() as s:
        user = await s.get(User, me["user"]["id"])
    assert user is not None and user.wechat_openid == "openid-t" and user.wechat_unionid == "union-t"
    [entry] = await _audit(app, "household.member_joined")
    assert entry.data["phone_verified"] is True and entry.data["relation"] == "tenant"

    # the same WeChat user, now signed in, joins a second household as family: no phone, no name needed
    other = world.residents[1]
    second = await _invite(client, other.headers, other.household_id)
    wechat.codes["login-t2"] = "openid-t"
    signed = (await client.post(f"{API}/auth/wechat", json={"code": "login-t2"})).json()
    assert signed["bound"] is True
    r = await _join(client, second["code"], name=None, phone=None, headers=auth(signed["access_token"]))
    assert r.status_code == 200, r.text
    me = (await client.get(f"{API}/me", headers=auth(r.json()["access_token"]))).json()
    assert sorted((h["household_id"], h["relation"]) for h in me["households"]) == sorted(
        [(owner.household_id, "tenant"), (other.household_id, "family")])
    assert me["user"]["phone"] == "13711112222"  # unchanged
    # joining a household one is already in: 409, the invitation stays unused
    third = await _invite(client, other.headers, other.household_id)
    r = await _join(client, third["code"], name=None, phone=None, headers=auth(signed["access_token"]))
    assert r.status_code == 409 and r.json()["code"] == "activation.already_member"
    r = await _join(client, third["code"], name="另一人", phone="13900000009")
    assert r.status_code == 200


async def test_a_new_account_needs_a_phone_and_a_name(client, world) -> None:
    issued = await _invite(client, world.residents[0].headers, world.residents[0].household_id)
    r = await _join(client, issued["code"], name=None, phone=None)
    assert r.status_code == 422 and r.json()["code"] == "validation.failed"
    assert sorted(e["loc"][1] for e in r.json()["errors"]) == ["name", "phone"]
    assert (await _join(client, issued["code"], name="有名有姓", phone="13900000003")).status_code == 200


async def test_expired_revoked_unknown(app, client, world, clock) -> None:
    owner = world.residents[0]
    hid = owner.household_id
    early = await _invite(client, owner.headers, hid)
    clock.advance(hours=1)
    await _refreshed(client, owner)
    late = await _invite(client, owner.headers, hid)
    revoked = await _invite(client, owner.headers, hid, "tenant")
    listed = (await client.get(f"{API}/households/{hid}/invites", headers=owner.headers)).json()
    assert [i["id"] for i in listed] == [early["id"], late["id"], revoked["id"]]
    assert all("code" not in i for i in listed)

    r = await client.delete(f"{API}/households/{hid}/invites/{revoked['id']}", headers=owner.headers)
    assert r.status_code == 204
    r = await _join(client, revoked["code"])
    assert r.status_code == 410 and r.json()["code"] == "invite.revoked"
    r = await client.delete(f"{API}/households/{hid}/invites/{revoked['id']}", headers=owner.headers)
    assert r.status_code == 410 and r.json()["code"] == "invite.revoked"
    [entry] = await _audit(app, "household.invite_revoked")
    assert entry.data == {"invite_id": revoked["id"], "relation": "tenant"} and entry.actor_id == owner.user_id

    # 72 hours after the first was issued it has expired; the later one still works for another hour
    clock.advance(hours=71)
    await _refreshed(client, owner)
    r = await _join(client, early["code"])
    assert r.status_code == 410 and r.json()["code"] == "invite.expired"
    listed = (await client.get(f"{API}/households/{hid}/invites", headers=owner.headers)).json()
    assert [i["id"] for i in listed] == [late["id"]]
    r = await _join(client, late["code"], phone="13900000004")
    assert r.status_code == 200, r.text
    r = await client.delete(f"{API}/households/{hid}/invites/{late['id']}", headers=owner.headers)
    assert r.status_code == 409 and r.json()["code"] == "invite.used"
    r = await client.delete(f"{API}/households/{hid}/invites/{early['id']}", headers=owner.headers)
    assert r.status_code == 410 and r.json()["code"] == "invite.expired"
    # unknown codes and ids
    for code in ("ABCD-EFGH", "ABCD", "不是邀请码"):
        r = await _join(client, code)
        assert r.status_code == 400 and r.json()["code"] == "invite.invalid", code
    other = world.residents[1]
    foreign = await _invite(client, await _refreshed(client, other), other.household_id)
    r = await client.delete(f"{API}/households/{hid}/invites/{foreign['id']}", headers=owner.headers)
    assert r.status_code == 404 and r.json()["code"] == "invite.not_found"


async def test_only_family_and_tenants_are_invited(client, world) -> None:
    owner = world.residents[0]
    for relation in ("owner", "co_owner"):
        for headers in (owner.headers, world.staff):
            r = await client.post(f"{API}/households/{owner.household_id}/invites", headers=headers,
                                  json={"relation": relation})
            assert r.status_code == 422 and r.json()["code"] == "invite.relation_not_invitable", (relation, r.text)
            assert r.json()["errors"][0]["loc"] == ["body", "relation"]
    for body in ({"relation": "friend"}, {}, {"relation": "family", "extra": 1}):
        r = await client.post(f"{API}/households/{owner.household_id}/invites", headers=owner.headers, json=body)
        assert r.status_code == 422 and r.json()["code"] == "validation.failed", body


async def test_who_may_invite(app, client, world) -> None:
    owner, neighbour = world.residents[0], world.residents[1]
    hid = owner.household_id
    co_owner = await add_member(client, world, hid, "co_owner", "13500000001")
    family = auth((await _join(client, (await _invite(client, owner.headers, hid))["code"])).json()["access_token"])
    cid_b = await create_community(client, world.admin, world.jurisdiction_id, "别的小区")
    _, staff_b = await add_staff(client, world.admin, cid_b, "staff-b")
    url = f"{API}/households/{hid}/invites"
    for headers in (owner.headers, co_owner, world.staff, world.admin):
        assert (await client.post(url, headers=headers, json={"relation": "tenant"})).status_code == 201
    r = await client.post(url, headers=family, json={"relation": "tenant"})
    assert r.status_code == 403 and r.json()["code"] == "household.owner_only"
    assert (await client.get(url, headers=family)).status_code == 403
    r = await client.post(url, headers=neighbour.headers, json={"relation": "tenant"})
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    assert (await client.post(url, headers=auth(staff_b), json={"relation": "tenant"})).status_code == 404
    assert (await client.post(url, json={"relation": "tenant"})).status_code == 401
    assert (await client.post(f"{API}/households/{'f' * 32}/invites", headers=world.staff,
                              json={"relation": "tenant"})).status_code == 404
    listed = (await client.get(url, headers=co_owner)).json()
    assert len(listed) == 4
    entries = await _audit(app, "household.invite_issued")
    assert [e.data["by_staff"] for e in entries] == [False, False, False, True, True]
    # staff may invite to a household nobody has activated yet; a deactivated one gets none, and its waiting
    # invitations are revoked with it
    spare = next(iter(world.codes))
    waiting = await _invite(client, world.staff, spare, "tenant")
    r = await client.post(f"{API}/households/{spare}/deactivate", headers=world.staff, json={"reason": "两户合并"})
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/households/{spare}/invites", headers=world.staff, json={"relation": "tenant"})
    assert r.status_code == 409 and r.json()["code"] == "household.inactive"
    r = await _join(client, waiting["code"])
    assert r.status_code == 410 and r.json()["code"] == "invite.revoked"


async def test_member_cap_at_invite_and_at_join(client, world, settings) -> None:
    owner = world.residents[0]
    hid = owner.household_id
    # Laoshan allows 6 members; the owner and four family members make five
    for i in range(4):
        r = await _join(client, (await _invite(client, owner.headers, hid))["code"], phone=f"1390000010{i}")
        assert r.status_code == 200, r.text
    one, two = await _invite(client, owner.headers, hid), await _invite(client, owner.headers, hid, "tenant")
    assert (await _join(client, one["code"], phone="13900000200")).status_code == 200
    r = await _join(client, two["code"], phone="13900000201")
    assert r.status_code == 409 and r.json()["code"] == "activation.household_full"
    r = await client.post(f"{API}/households/{hid}/invites", headers=owner.headers, json={"relation": "family"})
    assert r.status_code == 409 and r.json()["code"] == "activation.household_full"
    # the refused join left the invitation waiting: once someone leaves, it works
    members = (await _members(client, world.staff, hid)).json()
    leaver = next(m for m in members if m["relation"] == "family")
    r = await client.delete(f"{API}/households/{hid}/members/{leaver['user_id']}", headers=owner.headers)
    assert r.status_code == 204
    assert (await _join(client, two["code"], phone="13900000201")).status_code == 200


async def test_open_invitations_are_capped(client, world, settings) -> None:
    owner = world.residents[0]
    opened = [await _invite(client, owner.headers, owner.household_id) for _ in range(settings.invite_max_open)]
    r = await client.post(f"{API}/households/{owner.household_id}/invites", headers=owner.headers,
                          json={"relation": "family"})
    assert r.status_code == 409 and r.json()["code"] == "invite.too_many_open"
    r = await client.delete(f"{API}/households/{owner.household_id}/invites/{opened[0]['id']}",
                            headers=owner.headers)
    assert r.status_code == 204
    await _invite(client, owner.headers, owner.household_id)


async def test_two_joins_with_one_code_at_once(app, client, world) -> None:
    """Truly concurrent transactions on PostgreSQL (the household row lock, the compare-and-set of the code);
    serialized by the one writer on SQLite. Exactly one join of each code succeeds."""
    owner = world.residents[0]
    hid = owner.household_id
    for round_ in range(3):
        issued = await _invite(client, owner.headers, hid)
        results = await asyncio.gather(*(_join(client, issued["code"], name=f"抢码{round_}{i}",
                                               phone=f"139{round_:02d}00000{i}") for i in range(4)))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 409, 409, 409], [r.text for r in results]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"invite.used"}
    members = (await _members(client, world.staff, hid)).json()
    assert [m["relation"] for m in members] == ["owner", "family", "family", "family"]
    async with app.state.db.read_session() as s:
        users = (await s.exec(select(User).where(User.name.startswith("抢码")))).all()  # type: ignore[union-attr]
    assert len(users) == 3  # the losers' accounts were rolled back with their requests


async def test_the_cap_holds_when_joins_race_for_the_last_places(client, world) -> None:
    owner = world.residents[0]
    hid = owner.household_id
    for i in range(3):
        assert (await _join(client, (await _invite(client, owner.headers, hid))["code"],
                            phone=f"1390000030{i}")).status_code == 200
    # two places left (cap 6, four members), five invitations redeemed at once
    invites = [await _invite(client, owner.headers, hid) for _ in range(5)]
    results = await asyncio.gather(*(_join(client, inv["code"], name=f"末位{i}", phone=f"1390000040{i}")
                                     for i, inv in enumerate(invites)))
    assert sorted(r.status_code for r in results) == [200, 200, 409, 409, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"activation.household_full"}
    assert len((await _members(client, world.staff, hid)).json()) == 6


async def test_members_list_and_removal_permissions(app, client, world) -> None:
    owner, neighbour = world.residents[0], world.residents[1]
    hid = owner.household_id
    url = f"{API}/households/{hid}/members"
    co_owner = await add_member(client, world, hid, "co_owner", "13500000001")
    fam = (await _join(client, (await _invite(client, owner.headers, hid))["code"], name="家属",
                       phone="13900000011")).json()
    ten = (await _join(client, (await _invite(client, co_owner, hid, "tenant"))["code"], name="租客",
                       phone="13900000012")).json()
    family, tenant = auth(fam["access_token"]), auth(ten["access_token"])
    ids = {m["relation"]: m["user_id"] for m in (await _members(client, world.staff, hid)).json()}
    cid_b = await create_community(client, world.admin, world.jurisdiction_id, "别的小区")
    _, staff_b = await add_staff(client, world.admin, cid_b, "staff-b")

    # who sees the list: staff (names in full, phones masked) and every member (others masked)
    as_staff = (await _members(client, world.staff, hid)).json()
    assert [(m["relation"], m["name"]) for m in as_staff] == [
        ("owner", owner.name), ("co_owner", "co_owner成员"), ("family", "家属"), ("tenant", "租客")]
    assert all("****" in m["phone"] for m in as_staff)
    for headers in (owner.headers, co_owner, family, tenant):
        rows = (await _members(client, headers, hid)).json()
        assert len(rows) == 4 and sum(m["is_me"] for m in rows) == 1
        assert all("****" in m["phone"] and m["name"].endswith("*") for m in rows if not m["is_me"])
    assert (await _members(client, neighbour.headers, hid)).status_code == 403
    assert (await _members(client, auth(staff_b), hid)).status_code == 404
    assert (await _members(client, {}, hid)).status_code == 401

    async def remove(headers: dict, user_id: str) -> httpx.Response:
        return await client.delete(f"{url}/{user_id}", headers=headers)

    # refusals, each with its code; nothing changes
    for headers, target, status, code in (
        (family, ids["tenant"], 403, "household.owner_only"),
        (family, ids["owner"], 403, "household.owner_only"),
        (tenant, ids["co_owner"], 403, "household.owner_only"),
        (co_owner, ids["owner"], 403, "member.owner_protected"),
        (owner.headers, ids["co_owner"], 403, "member.owner_protected"),
        (neighbour.headers, ids["family"], 403, "auth.forbidden"),
        (auth(staff_b), ids["family"], 404, "not_found"),
        (owner.headers, neighbour.user_id, 404, "member.not_found"),
        (world.staff, neighbour.user_id, 404, "member.not_found"),
    ):
        r = await remove(headers, target)
        assert (r.status_code, r.json()["code"]) == (status, code), (target, r.text)
    assert (await remove({}, ids["family"])).status_code == 401
    assert len((await _members(client, world.staff, hid)).json()) == 4

    # the co-owner takes the tenant off; the co-owner leaves; the owner, last of the owners, may not leave while
    # the family member remains; the owner takes the family member off, then leaves
    assert (await remove(co_owner, ids["tenant"])).status_code == 204
    assert (await remove(co_owner, ids["co_owner"])).status_code == 204
    r = await remove(owner.headers, owner.user_id)
    assert r.status_code == 409 and r.json()["code"] == "member.last_owner"
    assert (await remove(owner.headers, ids["family"])).status_code == 204
    assert (await remove(owner.headers, owner.user_id)).status_code == 204
    assert (await _members(client, world.staff, hid)).json() == []
    entries = await _audit(app, "household.member_removed")
    assert [(e.data["user_id"], e.data["relation"], e.data["left"], e.data["by_staff"]) for e in entries] == [
        (ids["tenant"], "tenant", False, False), (ids["co_owner"], "co_owner", True, False),
        (ids["family"], "family", False, False), (owner.user_id, "owner", True, False)]
    assert all(e.chain == world.community_id for e in entries)


async def test_staff_remove_an_owner_and_their_invitations_go_with_them(app, client, world) -> None:
    owner = world.residents[0]
    hid = owner.household_id
    family = await _join(client, (await _invite(client, owner.headers, hid))["code"])
    assert family.status_code == 200
    waiting = await _invite(client, owner.headers, hid, "tenant")
    by_staff = await _invite(client, world.staff, hid, "tenant")
    # staff may take off the last owner even while a family member remains (the register is theirs)
    r = await client.delete(f"{API}/households/{hid}/members/{owner.user_id}", headers=world.staff)
    assert r.status_code == 204
    [entry] = await _audit(app, "household.member_removed")
    assert entry.data["by_staff"] is True and entry.data["invites_revoked"] == [waiting["id"]]
    r = await _join(client, waiting["code"], phone="13900000021")
    assert r.status_code == 410 and r.json()["code"] == "invite.revoked"
    assert (await _join(client, by_staff["code"], phone="13900000022")).status_code == 200


async def test_a_removed_member_no_longer_acts_for_the_household(app, client, world, clock) -> None:
    """Removal takes effect on the member's next request, with the access token they already hold: the
    principal's households are read per request, never carried in the token."""
    owner = world.residents[0]
    hid = owner.household_id
    _, _, motion = await setup_motion(client, world, clock.now())
    pid = motion["project_id"]
    q = await make_questionnaire(client, world, pid)
    question = q["questions"][0]["id"]
    family = auth((await _join(client, (await _invite(client, owner.headers, hid))["code"])).json()["access_token"])
    family_id = (await client.get(f"{API}/me", headers=family)).json()["user"]["id"]

    # a family member sees the motion but does not vote or answer (owners and co-owners do)
    assert (await client.get(f"{API}/motions/{motion['id']}", headers=family)).status_code == 200
    r = await vote(client, family, motion["id"], "agree")
    assert r.status_code == 403 and r.json()["code"] == "ballot.not_permitted_relation", r.text
    assert (await _members(client, family, hid)).status_code == 200
    # the owner takes them off: from the next request on, the household is not theirs
    r = await client.delete(f"{API}/households/{hid}/members/{family_id}", headers=owner.headers)
    assert r.status_code == 204
    assert (await client.get(f"{API}/motions/{motion['id']}", headers=family)).status_code == 404
    assert (await vote(client, family, motion["id"], "agree")).status_code == 404
    assert (await answer(client, family, q["id"], [{"question_id": question, "value": True}])).status_code == 404
    assert (await _members(client, family, hid)).status_code == 404
    assert (await client.get(f"{API}/me", headers=family)).json()["households"] == []

    # the owner votes and answers; staff take the owner off; the same token no longer acts for the household
    assert (await vote(client, owner.headers, motion["id"], "agree")).status_code == 200
    r = await answer(client, owner.headers, q["id"], [{"question_id": question, "value": True}])
    assert r.status_code == 200, r.text
    r = await client.delete(f"{API}/households/{hid}/members/{owner.user_id}", headers=world.staff)
    assert r.status_code == 204
    r = await vote(client, owner.headers, motion["id"], "disagree")
    assert r.status_code == 404, r.text
    r = await answer(client, owner.headers, q["id"], [{"question_id": question, "value": False}])
    assert r.status_code == 404, r.text
    r = await client.post(f"{API}/households/{hid}/invites", headers=owner.headers, json={"relation": "family"})
    assert r.status_code == 404
    # the sign-in itself stays (the user may belong to other households): the refresh token still rotates
    r = await client.post(f"{API}/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert r.status_code == 200


async def test_wrong_invitations_are_throttled_with_activation_codes(limited, clock) -> None:  # noqa: F811
    """Wrong invitation codes count against the same limits as wrong activation codes: five free failures per
    phone at an address, then waits; a guesser gains nothing by switching between the two."""
    app, client_from = limited
    world = await build_world(app, client_from("10.1.1.1"))
    owner = world.residents[0]
    home = client_from("10.1.1.1")
    issued = await _invite(home, owner.headers, owner.household_id)
    guesser = client_from("198.51.100.23")
    body = {"phone": "13700000000", "name": "猜码者"}
    half = ACTIVATE_FAILURES_PER_PHONE_IP.free // 2 + 1
    for i in range(half):
        r = await guesser.post(f"{API}/auth/activate", json=body | {"activation_code": f"AAAA-BBBB-C{i:03d}"})
        assert r.status_code == 400
    for i in range(ACTIVATE_FAILURES_PER_PHONE_IP.free + 1 - half):
        r = await guesser.post(f"{API}/auth/join", json=body | {"invite_code": f"AAAA-B{i:03d}"})
        assert r.status_code == 400 and r.json()["code"] == "invite.invalid"
    # even the right invitation now waits at this address for this phone
    r = await guesser.post(f"{API}/auth/join", json=body | {"invite_code": issued["code"]})
    assert r.status_code == 429 and r.json()["code"] == "auth.rate_limited" and r.headers["Retry-After"] == "2"
    clock.advance(seconds=2)
    r = await guesser.post(f"{API}/auth/join", json=body | {"invite_code": issued["code"]})
    assert r.status_code == 200, r.text


async def test_codes_are_spread_over_the_alphabet(client, world) -> None:
    owner = world.residents[0]
    codes = set()
    for _ in range(3):
        for _ in range(3):
            codes.add((await _invite(client, owner.headers, owner.household_id))["code"])
        for inv in (await client.get(f"{API}/households/{owner.household_id}/invites", headers=owner.headers)).json():
            assert (await client.delete(f"{API}/households/{owner.household_id}/invites/{inv['id']}",
                                        headers=owner.headers)).status_code == 204
    assert len(codes) == 9 and all(CODE.match(c) for c in codes)


def test_invite_code_shape() -> None:
    from app.core.security import new_invite_code, normalize_invite_code

    seen = {new_invite_code() for _ in range(2000)}
    assert len(seen) == 2000 and all(CODE.match(c) for c in seen)
    assert set("".join(seen).replace("-", "")) == set("23456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert normalize_invite_code(" abcd efgh ") == "ABCD-EFGH" == normalize_invite_code("abcd-efgh")
    assert normalize_invite_code("ａｂｃｄ－ｅｆｇｈ") == "ABCD-EFGH"  # typed with a full-width (Chinese) keyboard
    assert normalize_invite_code("abc") == "ABC" and normalize_invite_code("ABCD-EFGH-J") == "ABCDEFGHJ"


async def test_an_activation_and_a_join_race_for_the_last_place(client, world) -> None:
    """Activation counts the members under the same household lock as a join: of the two, exactly one gets the
    last place."""
    from tests.factories import activate, issue_codes

    owner = world.residents[0]
    hid = owner.household_id
    for i in range(4):
        assert (await _join(client, (await _invite(client, owner.headers, hid))["code"],
                            phone=f"1390000050{i}")).status_code == 200
    code = (await issue_codes(client, world.staff, world.community_id, [hid], relation="family"))[hid]
    invite = await _invite(client, owner.headers, hid)
    by_code, by_invite = await asyncio.gather(activate(client, code, "持码者", phone="13900000601"),
                                              _join(client, invite["code"], name="受邀者", phone="13900000602"))
    assert sorted([by_code.status_code, by_invite.status_code]) == [200, 409], (by_code.text, by_invite.text)
    loser = by_code if by_code.status_code == 409 else by_invite
    assert loser.json()["code"] == "activation.household_full"
    assert len((await _members(client, world.staff, hid)).json()) == 6
