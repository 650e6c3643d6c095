"""Helpers for the voting tests: projects, plans and motions through the HTTP API, real slip photos."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import httpx
from PIL import Image

from tests.factories import (
    ADMIN_PASSWORD,
    STAFF_PASSWORD,
    Resident,
    World,
    activate,
    auth,
    issue_codes,
    login,
)

API = "/api/v1"


def jpeg(color: tuple[int, int, int] = (220, 220, 210), size: int = 64) -> bytes:
    """A real 64×64 JPEG made in memory (the photo of a signed slip)."""
    img = Image.new("RGB", (size, size), color)
    for x in range(10, 50):
        img.putpixel((x, 30), (20, 20, 20))  # a "signature" stroke
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


async def make_project(client: httpx.AsyncClient, world: World, title: str = "幸福里小区综合改造") -> str:
    r = await client.post(f"{API}/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def plan_body(**overrides) -> dict:
    body = {
        "title": "幸福里小区改造方案",
        "description": "屋面防水、雨污分流、加装电梯",
        "items": [
            {"catalog": "qingdao", "catalog_seq": 1, "title": "屋面防水", "budget_fen": 120_000_00,
             "funding": [{"source": "central_subsidy", "amount_fen": 60_000_00},
                         {"source": "district_subsidy", "amount_fen": 30_000_00},
                         {"source": "residents", "amount_fen": 30_000_00}]},
            {"catalog": "qingdao", "catalog_seq": 5, "title": "雨污分流", "budget_fen": 80_000_01,
             "residents_share_fen": 10_000_00,
             "funding": [{"source": "utility", "amount_fen": 50_000_00}]},
        ],
        "funding": [{"source": "social_capital", "amount_fen": 5_000_00}],
    }
    body.update(overrides)
    return body


async def make_plan(client: httpx.AsyncClient, world: World, project_id: str, **overrides) -> dict:
    r = await client.post(f"{API}/projects/{project_id}/plans", headers=world.staff, json=plan_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()


async def make_motion(client: httpx.AsyncClient, world: World, plan_id: str, now: datetime, **overrides) -> dict:
    body = {"title": "关于实施幸福里小区改造方案的表决", "matter": "renovation_plan",
            "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=7)).isoformat()}
    body.update(overrides)
    r = await client.post(f"{API}/plans/{plan_id}/motions", headers=world.staff, json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def setup_motion(client: httpx.AsyncClient, world: World, now: datetime, **overrides) -> tuple[str, dict, dict]:
    """A project, its plan and an open community-wide motion: (project_id, plan, motion)."""
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    motion = await make_motion(client, world, plan["id"], now, **overrides)
    return pid, plan, motion


async def vote(client: httpx.AsyncClient, headers: dict, motion_id: str, choice: str,
               household_id: str | None = None, key: str | None = None) -> httpx.Response:
    body: dict = {"choice": choice}
    if household_id is not None:
        body["household_id"] = household_id
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    return await client.put(f"{API}/motions/{motion_id}/ballot", headers=h, json=body)


async def paper(client: httpx.AsyncClient, world: World, motion_id: str, household_id: str, choice: str,
                photo: bytes | None = None, key: str | None = None) -> httpx.Response:
    files = {"photo": ("slip.jpg", photo, "image/jpeg")} if photo is not None else None
    h = dict(world.staff) | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"{API}/motions/{motion_id}/paper-ballots", headers=h,
                             data={"household_id": household_id, "choice": choice}, files=files)


async def tally(client: httpx.AsyncClient, headers: dict, motion_id: str) -> httpx.Response:
    return await client.get(f"{API}/motions/{motion_id}/tally", headers=headers)


async def activate_all(client: httpx.AsyncClient, world: World) -> dict[str, dict]:
    """Activate every household that has no resident yet; household_id → headers of its owner."""
    out = {r.household_id: r.headers for r in world.residents}
    for i, (hid, code) in enumerate(sorted(world.codes.items())):
        r = await activate(client, code, f"业主{i}", phone=f"1390013{i:04d}")
        assert r.status_code == 200, r.text
        out[hid] = auth(r.json()["access_token"])
        world.residents.append(Resident("", hid, r.json()["access_token"], r.json()["refresh_token"], f"业主{i}"))
    world.codes.clear()
    return out


async def add_member(client: httpx.AsyncClient, world: World, household_id: str, relation: str,
                     phone: str) -> dict:
    """A further member (co_owner, family, tenant) of a household: a new user; returns their headers."""
    codes = await issue_codes(client, world.staff, world.community_id, [household_id], relation=relation)
    r = await activate(client, codes[household_id], f"{relation}成员", phone=phone)
    assert r.status_code == 200, r.text
    return auth(r.json()["access_token"])


async def unit_ids(client: httpx.AsyncClient, headers: dict) -> dict[str, tuple[str, str]]:
    """household_id → (building_id, unit_id) of the caller's households, from /me."""
    r = await client.get(f"{API}/me", headers=headers)
    assert r.status_code == 200, r.text
    return {h["household_id"]: (h["building"]["id"], h["unit"]["id"]) for h in r.json()["households"]}


async def relogin(client: httpx.AsyncClient, world: World) -> None:
    """Fresh access tokens for admin, staff and residents (after moving the clock past their 15 minutes)."""
    world.admin_token = (await login(client, "admin", ADMIN_PASSWORD))["access_token"]
    world.staff_token = (await login(client, "staff1", STAFF_PASSWORD))["access_token"]
    for res in world.residents:
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": res.refresh_token})
        assert r.status_code == 200, r.text
        res.token, res.refresh_token = r.json()["access_token"], r.json()["refresh_token"]
