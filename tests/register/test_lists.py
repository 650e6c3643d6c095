"""GET /api/v1/jurisdictions and GET /api/v1/communities: cursor pages of exactly what the caller may view.

The world: jurisdiction J1 (the factories' 崂山区 with community A and a second community B) and J2 with
community C. Callers: the global admin, an admin of J1 only, staff of A, a resident of A, a resident of B,
a supervisor of a project in A, and no one (anonymous)."""

from __future__ import annotations

import httpx

from app.auth import service as auth_service
from app.auth.models import Role
from tests.factories import ADMIN_PASSWORD, auth, create_community, login
from tests.projects.helpers import make_project, other_community

API = "/api/v1"


async def _jurisdiction_admin(app, client: httpx.AsyncClient, jurisdiction_id: str) -> dict[str, str]:
    """An admin of one jurisdiction (there is no HTTP route to grant one: done on the service layer)."""
    async with app.state.db.write_session() as s:
        user = await auth_service.create_user(s, username="street-j1", password=ADMIN_PASSWORD, name="街道办",
                                              now=app.state.clock.now())
        await auth_service.grant(s, user_id=user.id, role=Role.ADMIN, scope_id=jurisdiction_id,
                                 now=app.state.clock.now(), by=None)
        await s.commit()
    return auth((await login(client, "street-j1", ADMIN_PASSWORD))["access_token"])


async def _all_pages(client: httpx.AsyncClient, path: str, headers: dict, limit: int) -> list[dict]:
    items: list[dict] = []
    cursor = None
    for _ in range(50):
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(path, headers=headers, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


async def test_each_caller_lists_what_it_may_view(app, client, world) -> None:
    j1, a = world.jurisdiction_id, world.community_id
    b, _, resident_b = await other_community(client, world)
    r = await client.post(f"{API}/jurisdictions", headers=world.admin, json={"name": "市南区", "preset": "zhoucun"})
    assert r.status_code == 201, r.text
    j2 = r.json()["id"]
    c = await create_community(client, world.admin, j2, "八大关小区")
    street = await _jurisdiction_admin(app, client, j1)
    project = await make_project(client, world)
    r = await client.post(f"{API}/projects/{project['id']}/supervisors", headers=world.staff, json={
        "name": "监督员老李", "phone": "13911112222", "source": "deputy", "username": "sup-a",
        "password": "people-pass-2026!"})
    assert r.status_code == 201, r.text
    supervisor = auth((await login(client, "sup-a", "people-pass-2026!"))["access_token"])

    callers = {"admin": world.admin, "street_j1": street, "staff_a": world.staff,
               "resident_a": world.residents[0].headers, "resident_b": resident_b, "supervisor": supervisor}
    expected = {  # (jurisdictions, communities)
        "admin": ({j1, j2}, {a, b, c}),
        "street_j1": ({j1}, {a, b}),
        "staff_a": (set(), {a}),
        "resident_a": (set(), {a}),
        "resident_b": (set(), {b}),
        "supervisor": (set(), set()),  # relates to the project only (GET /communities/{id}: 404)
    }
    for name, headers in callers.items():
        jurisdictions = await _all_pages(client, f"{API}/jurisdictions", headers, limit=1)
        communities = await _all_pages(client, f"{API}/communities", headers, limit=1)
        got = ({x["id"] for x in jurisdictions}, {x["id"] for x in communities})
        assert got == expected[name], name
        # one page at a time, in id order, none twice
        assert [x["id"] for x in communities] == sorted(got[1])
        assert [x["id"] for x in jurisdictions] == sorted(got[0])
        # the list is exactly what the single GET serves this caller (the policy decides both)
        for cid in (a, b, c):
            status = (await client.get(f"{API}/communities/{cid}", headers=headers)).status_code
            assert (status == 200) is (cid in got[1]), (name, cid, status)
        for jid in (j1, j2):
            status = (await client.get(f"{API}/jurisdictions/{jid}", headers=headers)).status_code
            assert (status == 200) is (jid in got[0]), (name, jid, status)


async def test_items_are_what_the_single_gets_serve(client, world) -> None:
    r = await client.get(f"{API}/communities", headers=world.admin)
    assert r.status_code == 200 and r.json()["next_cursor"] is None
    [item] = r.json()["items"]
    assert item == (await client.get(f"{API}/communities/{world.community_id}", headers=world.admin)).json()
    assert item["households"] == 12 and item["buildings"] == 2 and item["eligibility"]["eligible"] is True
    # a new profile version: the list shows the one in force
    j = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()
    profile = j["profile"] | {"publicity_working_days": j["profile"]["publicity_working_days"] + 2}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/jurisdictions", headers=world.admin)
    [listed] = r.json()["items"]
    assert listed == (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()
    assert listed["profile_version"] == 2 and listed["profile"] == profile


async def test_paging_limits_and_refusals(client, world) -> None:
    for i in range(4):
        await create_community(client, world.admin, world.jurisdiction_id, f"小区{i}")
    r = await client.get(f"{API}/communities", headers=world.admin, params={"limit": 2})
    first = r.json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    r = await client.get(f"{API}/communities", headers=world.admin, params={"limit": 2, "cursor": first["next_cursor"]})
    second = r.json()
    assert len(second["items"]) == 2 and second["next_cursor"]
    assert not {x["id"] for x in first["items"]} & {x["id"] for x in second["items"]}
    r = await client.get(f"{API}/communities", headers=world.admin, params={"limit": 2, "cursor": second["next_cursor"]})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"] is None  # 5 in all
    assert len(await _all_pages(client, f"{API}/communities", world.admin, limit=200)) == 5
    for path in ("/communities", "/jurisdictions"):
        assert (await client.get(f"{API}{path}")).status_code == 401
        r = await client.get(f"{API}{path}", headers=world.admin, params={"cursor": "%%%"})
        assert r.status_code == 400 and r.json()["code"] == "pagination.bad_cursor"
        for limit in (0, 201):
            assert (await client.get(f"{API}{path}", headers=world.admin, params={"limit": limit})).status_code == 422
