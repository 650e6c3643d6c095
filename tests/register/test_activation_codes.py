"""Activation codes per household and relation (issue 20): a new code replaces only the unused code of the same
relation, and the replaced one says so (409 ``activation.code_replaced``) instead of a generic invalid code."""

from __future__ import annotations

from sqlmodel import select

from app.core.models import AuditEntry
from tests.factories import activate, auth

API = "/api/v1"


async def _issue(client, world, hids: list[str], relation: str) -> dict[str, dict]:
    r = await client.post(f"{API}/communities/{world.community_id}/activation-codes", headers=world.staff,
                          json={"household_ids": hids, "relation": relation})
    assert r.status_code == 201, r.text
    return {i["household_id"]: i for i in r.json()["items"]}


async def _issued_entries(app) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        q = select(AuditEntry).where(AuditEntry.action == "activation_codes.issued").order_by(AuditEntry.seq)
        return list((await s.exec(q)).all())


async def test_owner_and_co_owner_codes_live_side_by_side(app, client, world) -> None:
    hid, owner_code = sorted(world.codes.items())[0]
    co = (await _issue(client, world, [hid], "co_owner"))[hid]
    assert co["relation"] == "co_owner" and co["replaced"] == 0
    # a second co-owner code replaces the first co-owner code only
    co2 = (await _issue(client, world, [hid], "co_owner"))[hid]
    assert co2["replaced"] == 1
    r = await activate(client, co["code"], "旧共有人码", phone="13900000041")
    assert r.status_code == 409 and r.json()["code"] == "activation.code_replaced"
    assert "新发放" in r.json()["detail"]
    # the owner's code is untouched; both activate, each with its relation
    r = await activate(client, owner_code, "业主", phone="13900000042")
    assert r.status_code == 200 and r.json()["relation"] == "owner"
    r = await activate(client, co2["code"], "共有人", phone="13900000043")
    assert r.status_code == 200 and r.json()["relation"] == "co_owner"
    # the register counts no pending code any more
    r = await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                         params={"limit": 200})
    row = next(h for h in r.json()["items"] if h["id"] == hid)
    assert row["pending_codes"] == 0 and row["members"] == 2
    entries = await _issued_entries(app)
    assert [e.data for e in entries[-2:]] == [{"count": 1, "relation": "co_owner", "replaced": 0},
                                              {"count": 1, "relation": "co_owner", "replaced": 1}]


async def test_replaced_owner_code_after_a_reissue_for_all(app, client, world) -> None:
    spare = sorted(world.codes)
    r = await client.post(f"{API}/communities/{world.community_id}/activation-codes", headers=world.staff,
                          json={"all_not_activated": True, "relation": "owner"})
    assert r.status_code == 201, r.text
    fresh = {i["household_id"]: i for i in r.json()["items"]}
    assert {fresh[h]["replaced"] for h in spare} == {1}
    for h in spare[:2]:
        r = await activate(client, world.codes[h], "住户", phone="13900000051")
        assert r.status_code == 409 and r.json()["code"] == "activation.code_replaced"
    assert (await activate(client, fresh[spare[0]]["code"], "住户", phone="13900000051")).status_code == 200
    assert (await _issued_entries(app))[-1].data["replaced"] == len(spare)


async def test_a_used_code_is_not_replaced_and_a_revoked_one_stays_invalid(client, world) -> None:
    res = world.residents[0]
    # the household's owner code was used: a new owner code replaces nothing
    assert (await _issue(client, world, [res.household_id], "owner"))[res.household_id]["replaced"] == 0
    # a transfer revokes every unused code (not replaced by another): the generic answer stays
    hid, code = sorted(world.codes.items())[1]
    r = await client.post(f"{API}/households/{hid}/transfer", headers=world.staff,
                          json={"owner_key": "新业主", "reason": "过户"})
    assert r.status_code == 200, r.text
    r = await activate(client, code, "某人", phone="13900000061")
    assert r.status_code == 400 and r.json()["code"] == "activation.code_invalid"


async def test_replaced_code_with_phone_code_spends_nothing(client, wechat, world) -> None:
    hid, old = sorted(world.codes.items())[2]
    await _issue(client, world, [hid], "owner")
    wechat.phone_codes["ph"] = "13912340000"
    r = await client.post(f"{API}/auth/activate", json={"activation_code": old, "phone_code": "ph", "name": "甲"},
                          headers=auth(world.residents[1].token))
    assert r.status_code == 409 and r.json()["code"] == "activation.code_replaced"
    assert wechat.phone_calls() == []


async def test_two_staff_issuing_at_once_leave_one_open_code(client, world) -> None:
    """Two clerks print letters for the same households at the same moment: whoever comes second replaces the
    first one's codes, so each household ends with one open code of that relation (real concurrent
    transactions on PostgreSQL; SQLite's one writer orders them)."""
    import asyncio

    from tests.factories import add_staff

    _, token = await add_staff(client, world.admin, world.community_id, "clerk_b")
    clerks = [world.staff, auth(token)]
    hids = sorted(world.codes)[:4]

    async def pending() -> dict[str, int]:
        r = await client.get(f"{API}/communities/{world.community_id}/households", headers=world.staff,
                             params={"limit": 200})
        return {h["id"]: h["pending_codes"] for h in r.json()["items"] if h["id"] in hids}

    before = await pending()
    assert set(before.values()) == {1}  # each household's owner code
    for _ in range(5):
        answers = await asyncio.gather(*(client.post(
            f"{API}/communities/{world.community_id}/activation-codes", headers=h,
            json={"household_ids": hids, "relation": "co_owner"}) for h in clerks))
        assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
        assert await pending() == {h: 2 for h in hids}  # the owner code and one co-owner code
