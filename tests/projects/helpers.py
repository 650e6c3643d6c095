"""Helpers shared by the projects and publicity tests (HTTP only, plus gate fakes for unit-level seams)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from app.projects.gates import GateState
from tests.factories import World, activate, add_staff, auth, create_community, import_csv, issue_codes

SH = ZoneInfo("Asia/Shanghai")

OTHER_CSV = """building,unit,room,area_m2,owner_key
9,1,101,70.00,
9,1,102,80.00,
"""


def sh(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(y, m, d, h, mi, s, tzinfo=SH).astimezone(UTC)


def fake_gate(name: str, met: bool, detail: str | None = None, **figures):
    async def provider(session, *, project_id, now) -> GateState:
        return GateState(name=name, met=met, detail=detail or (f"{name} ok" if met else f"{name} 未满足"),
                         figures=figures)

    return provider


async def make_project(client: httpx.AsyncClient, world: World, title: str = "幸福里小区综合改造") -> dict:
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": title, "description": "屋面防水、管网更新、加装电梯"})
    assert r.status_code == 201, r.text
    return r.json()


async def other_community(client: httpx.AsyncClient, world: World, name: str = "别的小区",
                          username: str = "staff-other") -> tuple[str, dict, dict]:
    """A second community of the same jurisdiction: (id, its staff headers, one activated resident's headers)."""
    cid = await create_community(client, world.admin, world.jurisdiction_id, name)
    _, staff_token = await add_staff(client, world.admin, cid, username)
    r = await import_csv(client, auth(staff_token), cid, OTHER_CSV)
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/communities/{cid}/households", headers=auth(staff_token))
    hid = r.json()["items"][0]["id"]
    codes = await issue_codes(client, auth(staff_token), cid, [hid])
    r = await activate(client, codes[hid], "外小区居民", phone="13900139000")
    assert r.status_code == 200, r.text
    return cid, auth(staff_token), auth(r.json()["access_token"])


def patch_service(monkeypatch, module: str, **functions) -> None:
    """Replace functions of another domain's service (or stand in for a module not written yet)."""
    import importlib
    import sys
    import types

    try:
        mod = importlib.import_module(module)
    except ImportError:
        mod = types.ModuleType(module)
        monkeypatch.setitem(sys.modules, module, mod)
    for name, fn in functions.items():
        monkeypatch.setattr(mod, name, fn, raising=False)


async def travel(client: httpx.AsyncClient, world: World, clock, when: datetime) -> None:
    """Move the clock, then give admin, staff and residents fresh access tokens (they live 15 minutes)."""
    from tests.factories import ADMIN_PASSWORD, STAFF_PASSWORD, login

    clock.set(when)
    world.admin_token = (await login(client, "admin", ADMIN_PASSWORD))["access_token"]
    world.staff_token = (await login(client, "staff1", STAFF_PASSWORD))["access_token"]
    for res in world.residents:
        r = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
        assert r.status_code == 200, r.text
        res.token, res.refresh_token = r.json()["access_token"], r.json()["refresh_token"]
