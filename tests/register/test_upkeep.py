"""Register upkeep one household at a time: buildings and units, adding a household, correcting one — each
checked like an imported row, audited with its reason, and never reaching into an open motion's roll."""

from __future__ import annotations

from sqlmodel import select

from app.core.models import AuditEntry
from tests.factories import all_households
from tests.voting.helpers import API, setup_motion, vote


async def _audit(app, action: str) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_buildings_with_units_and_counts(client, world) -> None:
    r = await client.get(f"{API}/communities/{world.community_id}/buildings", headers=world.staff)
    assert r.status_code == 200, r.text
    body = r.json()
    total = sum(u["households"] for b in body for u in b["units"])
    assert total == len(await all_households(client, world.staff, world.community_id)) == 12
    assert all(b["units"] for b in body)
    r = await client.get(f"{API}/communities/{world.community_id}/buildings", headers=world.residents[0].headers)
    assert r.status_code == 403


async def test_add_one_household_checked_like_an_import(app, client, world) -> None:
    url = f"{API}/communities/{world.community_id}/households"
    ok = {"building": "３号楼", "unit": "1", "room": "Ａ301", "area_m2": "88.50", "reason": "漏登"}
    r = await client.post(url, headers=world.staff, json=ok)
    assert r.status_code == 201, r.text
    h = r.json()["household"]
    assert (h["building"], h["room"], h["area_m2"], h["members"]) == ("3号楼", "A301", "88.50", 0)
    assert r.json()["open_rolls_unchanged"] == []
    again = await client.post(url, headers=world.staff, json=ok | {"room": "A301"})
    assert again.status_code == 422 and again.json()["code"] == "import.invalid_rows"  # already registered
    bad = await client.post(url, headers=world.staff, json=ok | {"room": "A302", "area_m2": "1e3"})
    assert bad.status_code == 422 and bad.json()["code"] == "household.invalid"
    assert bad.json()["errors"][0]["loc"] == ["body", "area_m2"]
    hidden = await client.post(url, headers=world.staff, json=ok | {"room": "A3\u200b03"})
    assert hidden.status_code == 422
    assert (await client.post(url, headers=world.residents[0].headers, json=ok | {"room": "A309"})).status_code == 403
    assert len(await all_households(client, world.staff, world.community_id)) == 13
    [entry] = await _audit(app, "household.added")
    assert entry.data["reason"] == "漏登"


async def test_correct_a_household_during_a_vote_leaves_the_roll(app, client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200  # freezes the roll
    roll = (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).json()
    target = next(h for h in await all_households(client, world.staff, world.community_id))
    r = await client.patch(f"{API}/households/{target['id']}", headers=world.staff,
                           json={"area_m2": "99.99", "owner_key": "NEW-OWNER", "reason": "产权证面积更正"})
    assert r.status_code == 200, r.text
    assert r.json()["household"]["area_m2"] == "99.99"
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [m["id"]]
    after = (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).json()
    assert after["roll_hash"] == roll["roll_hash"]  # the frozen roll is not touched
    [entry] = await _audit(app, "household.corrected")
    assert entry.data["reason"] == "产权证面积更正" and entry.data["owner_key_changed"] is True
    assert "NEW-OWNER" not in str(entry.data)
    # another household's room in the same unit: taken
    other = next(h for h in await all_households(client, world.staff, world.community_id)
                 if h["unit"] == target["unit"] and h["building"] == target["building"] and h["id"] != target["id"])
    r = await client.patch(f"{API}/households/{target['id']}", headers=world.staff,
                           json={"room": other["room"], "reason": "改号"})
    assert r.status_code == 409 and r.json()["code"] == "household.room_taken"
    r = await client.patch(f"{API}/households/{target['id']}", headers=world.staff, json={"reason": "无"})
    assert r.status_code == 422
    r = await client.patch(f"{API}/households/{target['id']}", headers=world.residents[0].headers,
                           json={"area_m2": "1.00", "reason": "x"})
    assert r.status_code in (403, 404)


async def test_members_listed_masked_and_removed(app, client, world) -> None:
    from tests.factories import activate, issue_codes

    r0 = world.residents[0]
    # a family member joins the same household with a fresh code
    codes = await issue_codes(client, world.staff, world.community_id, [r0.household_id], relation="family")
    r = await activate(client, codes[r0.household_id], "家属甲", phone="13900000001")
    assert r.status_code == 200, r.text
    family = {"Authorization": f"Bearer {r.json()['access_token']}"}
    url = f"{API}/households/{r0.household_id}/members"

    as_staff = await client.get(url, headers=world.staff)
    assert as_staff.status_code == 200, as_staff.text
    assert [(m["name"], m["relation"]) for m in as_staff.json()] == [(r0.name, "owner"), ("家属甲", "family")]
    assert all("****" in (m["phone"] or "") for m in as_staff.json())  # staff see no full phones here
    as_family = (await client.get(url, headers=family)).json()
    me = next(m for m in as_family if m["is_me"])
    other = next(m for m in as_family if not m["is_me"])
    assert me["phone"] == "13900000001" and me["name"] == "家属甲"
    assert other["name"] != r0.name and "****" in other["phone"]
    assert (await client.get(url, headers=world.residents[1].headers)).status_code == 403  # a neighbour

    # a neighbour cannot remove anyone; the family member leaves; staff remove the owner
    r = await client.delete(f"{url}/{r0.user_id}", headers=world.residents[1].headers)
    assert r.status_code == 403
    me_id = me["user_id"]
    r = await client.delete(f"{url}/{r0.user_id}", headers=family)  # not themself, not staff
    assert r.status_code == 403
    assert (await client.delete(f"{url}/{me_id}", headers=family)).status_code == 204
    assert (await client.delete(f"{url}/{me_id}", headers=world.staff)).status_code == 404  # gone already
    assert (await client.delete(f"{url}/{r0.user_id}", headers=world.staff)).status_code == 204
    assert (await client.get(url, headers=world.staff)).json() == []
    mine = (await client.get(f"{API}/me", headers=r0.headers)).json()
    assert mine["households"] == []
    entries = await _audit(app, "household.member_removed")
    assert sorted(e.data["left"] for e in entries) == [False, True]


async def test_ownership_transfer_unbinds_members_and_revokes_codes(app, client, world) -> None:
    from tests.factories import activate, issue_codes

    r0 = world.residents[0]
    spare = next(iter(world.codes))  # another household with an unused code: untouched
    codes = await issue_codes(client, world.staff, world.community_id, [r0.household_id], relation="family")
    url = f"{API}/households/{r0.household_id}/transfer"
    r = await client.post(url, headers=world.staff, json={"owner_key": "NEW-OWNER-2027", "reason": "房屋买卖过户"})
    assert r.status_code == 200, r.text
    assert r.json()["members_unbound"] == 1 and r.json()["household"]["members"] == 0
    assert r.json()["household"]["pending_codes"] == 0
    assert (await client.get(f"{API}/me", headers=r0.headers)).json()["households"] == []
    # the family code issued before the transfer no longer works; the other household's still does
    assert (await activate(client, codes[r0.household_id], "旧家属", phone="13900000002")).status_code == 400
    assert (await activate(client, world.codes[spare], "邻居", phone="13900000003")).status_code == 200
    again = await client.post(url, headers=world.staff, json={"owner_key": "NEW-OWNER-2027", "reason": "重复"})
    assert again.status_code == 409 and again.json()["code"] == "household.same_owner"
    assert (await client.post(url, headers=r0.headers, json={"owner_key": "X", "reason": "x"})).status_code == 404
    [entry] = await _audit(app, "household.ownership_transferred")
    assert entry.data["members_unbound"] == [r0.user_id] and "NEW-OWNER" not in str(entry.data)
