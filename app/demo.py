"""`python -m app demo`: a demo community built through the real HTTP API (in process)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from app.auth import repository as auth_repo
from app.auth import service as auth_service
from app.auth.models import Role
from app.core.clock import Clock
from app.core.db import Database


@dataclass
class DemoContext:
    client: httpx.AsyncClient
    admin: dict[str, str]
    staff: dict[str, str]
    community_id: str
    jurisdiction_id: str
    households: list[dict]
    codes: dict[str, str]
    today: date
    out: dict[str, Any] = field(default_factory=dict)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _ensure_user(db: Database, clock: Clock, username: str, password: str, name: str, role: Role,
                       scope: str) -> None:
    async with db.write_session() as s:
        user = await auth_repo.get_user_by_username(s, username)
        if user is None:
            user = await auth_service.create_user(s, username=username, password=password, name=name, now=clock.now())
        else:
            user.password_hash = auth_service.hash_password(password)
            s.add(user)
        await auth_service.grant(s, user_id=user.id, role=role, scope_id=scope, now=clock.now(), by=None)
        await s.commit()


def _csv() -> str:
    rows = ["building,unit,room,area_m2,owner_key"]
    n = 0
    for b in (1, 2, 3):
        for u in (1, 2):
            for floor in (1, 2, 3):
                for door in (1, 2):
                    n += 1
                    area = 6000 + (n * 137) % 4000
                    owner = "DEMO-OWNER-1" if n in (1, 13, 25) else ""
                    rows.append(f"{b}号楼,{u}单元,{floor}0{door},{area // 100}.{area % 100:02d},{owner}")
    return "\n".join(rows) + "\n"


async def build(db: Database, clock: Clock, today: date) -> dict[str, Any]:
    from app.main import create_app

    settings = db.settings
    admin_pw = "Demo-admin-" + secrets.token_hex(4)
    staff_pw = "Demo-staff-" + secrets.token_hex(4)
    suffix = secrets.token_hex(2)
    await _ensure_user(db, clock, "demo-admin", admin_pw, "演示管理员", Role.ADMIN, "*")
    app = create_app(settings, clock=clock)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as client:
            tok = (await client.post("/api/v1/auth/token", data={"username": "demo-admin", "password": admin_pw})).json()
            admin = _auth(tok["access_token"])
            r = await client.post("/api/v1/jurisdictions", headers=admin, json={"name": f"崂山区（演示 {suffix}）",
                                                                               "preset": "laoshan"})
            r.raise_for_status()
            jid = r.json()["id"]
            r = await client.post("/api/v1/communities", headers=admin, json={
                "jurisdiction_id": jid, "name": f"示范小区 {suffix}", "address": "青岛市崂山区示范路 1 号",
                "built_date": "1996-05-01"})
            r.raise_for_status()
            cid = r.json()["id"]
            r = await client.post(f"/api/v1/communities/{cid}/staff", headers=admin, json={
                "username": f"demo-staff-{suffix}", "password": staff_pw, "name": "演示社区工作人员"})
            r.raise_for_status()
            tok = (await client.post("/api/v1/auth/token", data={"username": f"demo-staff-{suffix}",
                                                                 "password": staff_pw})).json()
            staff = _auth(tok["access_token"])
            r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=staff,
                                  content=_csv().encode())
            r.raise_for_status()
            r = await client.get(f"/api/v1/communities/{cid}/households", headers=staff, params={"limit": 200})
            households = r.json()["items"]
            r = await client.post(f"/api/v1/communities/{cid}/activation-codes", headers=staff,
                                  json={"all_not_activated": True})
            r.raise_for_status()
            codes = {i["household_id"]: i["code"] for i in r.json()["items"]}
            ctx = DemoContext(client, admin, staff, cid, jid, households, codes, today)
            ctx.out = {
                "admin": {"username": "demo-admin", "password": admin_pw},
                "staff": {"username": f"demo-staff-{suffix}", "password": staff_pw},
                "jurisdiction_id": jid, "community_id": cid,
                "activation_codes": [{"building": i["building"], "unit": i["unit"], "room": i["room"],
                                      "code": i["code"]} for i in r.json()["items"]],
            }
            from app.demo_steps import run_steps

            await run_steps(ctx)
            return ctx.out
    finally:
        await app.state.http.aclose()
        await app.state.db.dispose()
