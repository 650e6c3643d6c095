"""Builders that set up a realistic world through the real HTTP API (plus one direct admin bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from app.auth import service as auth_service
from app.auth.models import Role

ADMIN_PASSWORD = "admin-pass-2026!"
STAFF_PASSWORD = "staff-pass-2026!"

# 2 buildings x 2 units x 3 rooms = 12 households; owner "OWNER-A" holds three of them.
HOUSEHOLD_CSV = """building,unit,room,area_m2,owner_key
1,1,101,80.00,OWNER-A
1,1,102,75.50,
1,1,201,90.25,
1,2,101,60.00,OWNER-A
1,2,102,66.60,
1,2,201,88.88,
2,1,101,100.00,OWNER-A
2,1,102,55.55,
2,1,201,70.00,
2,2,101,120.10,
2,2,102,45.00,
2,2,201,99.99,
"""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def bootstrap_admin(app, username: str = "admin") -> str:
    """The CLI's create-admin, done directly on the service layer (there is no HTTP route for the first admin)."""
    db = app.state.db
    now = app.state.clock.now()
    async with db.write_session() as session:
        user = await auth_service.create_user(session, username=username, password=ADMIN_PASSWORD, name="管理员",
                                              now=now)
        await auth_service.grant(session, user_id=user.id, role=Role.ADMIN, scope_id="*", now=now, by=None)
        await session.commit()
        return user.id


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict:
    r = await client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


@dataclass
class Resident:
    user_id: str
    household_id: str
    token: str
    refresh_token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.token)


@dataclass
class World:
    admin_token: str
    jurisdiction_id: str
    community_id: str
    staff_token: str
    staff_user_id: str
    households: list[dict] = field(default_factory=list)  # register rows (id, building, unit, room, area_m2)
    residents: list[Resident] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # household_id -> unused activation code

    @property
    def admin(self) -> dict[str, str]:
        return auth(self.admin_token)

    @property
    def staff(self) -> dict[str, str]:
        return auth(self.staff_token)

    def household(self, building: str, unit: str, room: str) -> dict:
        for h in self.households:
            if (h["building"], h["unit"], h["room"]) == (building, unit, room):
                return h
        raise KeyError((building, unit, room))


async def create_community(
    client: httpx.AsyncClient, admin_headers: dict, jurisdiction_id: str, name: str, built: str = "1998-06-01"
) -> str:
    r = await client.post("/api/v1/communities", headers=admin_headers,
                          json={"jurisdiction_id": jurisdiction_id, "name": name, "built_date": built})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def add_staff(client: httpx.AsyncClient, admin_headers: dict, community_id: str, username: str) -> tuple[str, str]:
    r = await client.post(f"/api/v1/communities/{community_id}/staff", headers=admin_headers,
                          json={"username": username, "password": STAFF_PASSWORD, "name": "社区工作人员"})
    assert r.status_code == 201, r.text
    tokens = await login(client, username, STAFF_PASSWORD)
    return r.json()["user_id"], tokens["access_token"]


async def import_csv(client: httpx.AsyncClient, headers: dict, community_id: str, csv_text: str) -> httpx.Response:
    return await client.post(f"/api/v1/communities/{community_id}/households:import", headers=headers,
                             content=csv_text.encode("utf-8"), params={}, )


async def all_households(client: httpx.AsyncClient, headers: dict, community_id: str) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        r = await client.get(f"/api/v1/communities/{community_id}/households", headers=headers, params=params)
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


async def issue_codes(client: httpx.AsyncClient, headers: dict, community_id: str, household_ids: list[str],
                      relation: str = "owner") -> dict[str, str]:
    r = await client.post(f"/api/v1/communities/{community_id}/activation-codes", headers=headers,
                          json={"household_ids": household_ids, "relation": relation})
    assert r.status_code == 201, r.text
    return {i["household_id"]: i["code"] for i in r.json()["items"]}


async def activate(client: httpx.AsyncClient, code: str, name: str, phone: str = "13800138000",
                   headers: dict | None = None) -> httpx.Response:
    return await client.post("/api/v1/auth/activate", headers=headers or {},
                             json={"activation_code": code, "phone": phone, "name": name})


async def build_world(app, client: httpx.AsyncClient, *, preset: str = "laoshan", residents: int = 4,
                      csv_text: str = HOUSEHOLD_CSV, community_name: str = "幸福里小区") -> World:
    await bootstrap_admin(app)
    return await populate_world(client, "admin", ADMIN_PASSWORD, preset=preset, residents=residents,
                                csv_text=csv_text, community_name=community_name)


async def populate_world(client: httpx.AsyncClient, admin_username: str, admin_password: str, *,
                         preset: str = "laoshan", residents: int = 4, csv_text: str = HOUSEHOLD_CSV,
                         community_name: str = "幸福里小区", staff_username: str = "staff1") -> World:
    """The world, built over HTTP only (works against a real server process too)."""
    admin = (await login(client, admin_username, admin_password))["access_token"]
    r = await client.post("/api/v1/jurisdictions", headers=auth(admin), json={"name": "崂山区", "preset": preset})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    cid = await create_community(client, auth(admin), jid, community_name)
    staff_id, staff_token = await add_staff(client, auth(admin), cid, staff_username)
    r = await import_csv(client, auth(staff_token), cid, csv_text)
    assert r.status_code == 200, r.text
    households = await all_households(client, auth(staff_token), cid)
    households.sort(key=lambda h: (h["building"], h["unit"], h["room"]))
    world = World(admin_token=admin, jurisdiction_id=jid, community_id=cid, staff_token=staff_token,
                  staff_user_id=staff_id, households=households)
    codes = await issue_codes(client, auth(staff_token), cid, [h["id"] for h in households])
    for i, h in enumerate(households):
        if i < residents:
            name = f"居民{i + 1}"
            r = await activate(client, codes[h["id"]], name, phone=f"1380013{i:04d}")
            assert r.status_code == 200, r.text
            body = r.json()
            me = await client.get("/api/v1/me", headers=auth(body["access_token"]))
            world.residents.append(Resident(me.json()["user"]["id"], h["id"], body["access_token"],
                                            body["refresh_token"], name))
        else:
            world.codes[h["id"]] = codes[h["id"]]
    return world
