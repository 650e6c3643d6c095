"""Who may be appointed supervisor or contractor of a project, and which phone the answer shows.

An existing account (``user_id``) must belong to the project's community — a member of one of its
households, its staff, or appointed to one of its projects; anyone else is 404 ``user.not_found``, the
same answer as an unknown id, with nothing of the person in it. A new account (name + phone) is created
for the project. Staff see in full only a phone given with the appointment; the account's own is masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from app.core.privacy import mask_phone
from tests.factories import World, activate, add_staff, auth, create_community, import_csv, issue_codes
from tests.supervision.helpers import appoint, create_project

API = "/api/v1"
KINDS = {"supervisors": {"source": "resident"}, "contractors": {"organization": "青岛建工"}}
RESIDENT_B_PHONE = "13955556666"


@dataclass
class CommunityB:
    id: str
    staff: dict
    staff_user_id: str
    resident_id: str
    resident: dict
    project_id: str


async def community_b(client: httpx.AsyncClient, world: World) -> CommunityB:
    """A second community of the same jurisdiction: its staff, one resident, one project."""
    cid = await create_community(client, world.admin, world.jurisdiction_id, "别的小区")
    staff_id, token = await add_staff(client, world.admin, cid, "staff-b")
    staff = auth(token)
    r = await import_csv(client, staff, cid, "building,unit,room,area_m2,owner_key\n9,1,101,70.00,\n")
    assert r.status_code == 200, r.text
    hid = (await client.get(f"{API}/communities/{cid}/households", headers=staff)).json()["items"][0]["id"]
    codes = await issue_codes(client, staff, cid, [hid])
    r = await activate(client, codes[hid], "外小区居民", phone=RESIDENT_B_PHONE)
    assert r.status_code == 200, r.text
    resident = auth(r.json()["access_token"])
    me = (await client.get(f"{API}/me", headers=resident)).json()
    r = await client.post(f"{API}/communities/{cid}/projects", headers=staff, json={"title": "别的小区改造"})
    assert r.status_code == 201, r.text
    return CommunityB(cid, staff, staff_id, me["user"]["id"], resident, r.json()["id"])


async def test_people_of_another_community_are_not_found(client, world) -> None:
    b = await community_b(client, world)
    resident = world.residents[0]  # of community A: name 居民1, phone 13800130000
    pid_a = await create_project(client, world)
    sup_a, _ = await appoint(client, world, pid_a, "supervisors", "sup-a")  # an account created for A
    unknown = await client.post(f"{API}/projects/{b.project_id}/contractors", headers=b.staff,
                                json={"user_id": "0" * 32})
    assert unknown.status_code == 404 and unknown.json()["code"] == "user.not_found"
    for kind, extra in KINDS.items():
        for user_id in (resident.user_id, world.staff_user_id, sup_a):
            r = await client.post(f"{API}/projects/{b.project_id}/{kind}", headers=b.staff,
                                  json={"user_id": user_id} | extra)
            assert r.status_code == 404, (kind, user_id, r.text)
            assert r.json() == unknown.json()  # the same answer as for an id that does not exist
            assert "13800130000" not in r.text and resident.name not in r.text
        listed = (await client.get(f"{API}/projects/{b.project_id}/{kind}", headers=b.staff)).json()
        assert listed == []
    roles = (await client.get(f"{API}/me", headers=resident.headers)).json()["roles"]
    assert not [g for g in roles if g["scope_id"] == b.project_id]
    # nor may A's staff take B's resident
    r = await client.post(f"{API}/projects/{pid_a}/contractors", headers=world.staff,
                          json={"user_id": b.resident_id, "organization": "某公司"})
    assert r.status_code == 404 and RESIDENT_B_PHONE not in r.text


async def test_people_of_the_community_may_be_appointed(client, world) -> None:
    b = await community_b(client, world)
    url = f"{API}/projects/{b.project_id}"
    # a resident (household member): the answer and the staff's roster mask the account's phone
    r = await client.post(f"{url}/supervisors", headers=b.staff, json={"user_id": b.resident_id, "source": "resident"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "外小区居民" and r.json()["phone"] == mask_phone(RESIDENT_B_PHONE) == "139****6666"
    assert RESIDENT_B_PHONE not in r.text
    roster = (await client.get(f"{url}/supervisors", headers=b.staff)).json()
    assert [a["phone"] for a in roster] == ["139****6666"]
    # the community's staff, with a phone the appointing staff give themselves: shown to staff in full
    r = await client.post(f"{url}/contractors", headers=b.staff,
                          json={"user_id": b.staff_user_id, "phone": "13711112222", "organization": "物业"})
    assert r.status_code == 201 and r.json()["phone"] == "13711112222", r.text
    # an account created by name and phone for one project of B may be appointed to another of B's projects
    r = await client.post(f"{url}/contractors", headers=b.staff,
                          json={"name": "施工员小王", "phone": "13933334444", "organization": "青岛建工"})
    assert r.status_code == 201 and r.json()["phone"] == "13933334444", r.text
    created = r.json()["user_id"]
    r = await client.post(f"{API}/communities/{b.id}/projects", headers=b.staff, json={"title": "别的小区二期"})
    assert r.status_code == 201, r.text
    second = r.json()["id"]
    r = await client.post(f"{API}/projects/{second}/contractors", headers=b.staff,
                          json={"user_id": created, "organization": "青岛建工"})
    assert r.status_code == 201 and r.json()["phone"] == "139****4444", r.text
    staff_view = (await client.get(f"{url}/contractors", headers=b.staff)).json()
    assert [a["phone"] for a in staff_view] == ["13711112222", "13933334444"]
    public = (await client.get(f"{url}/contractors", headers=b.resident)).json()
    assert [a["phone"] for a in public] == ["137****2222", "139****4444"]
