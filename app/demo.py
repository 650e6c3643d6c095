"""`python -m app demo`: a demo community built through the real HTTP API (in process)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import repository as auth_repo
from app.auth import service as auth_service
from app.auth.models import Role
from app.core.clock import Clock
from app.core.db import Database
from app.core.security import hash_password
from app.rules import business_date


@dataclass
class DemoContext:
    client: httpx.AsyncClient
    admin: dict[str, str]
    staff: dict[str, str]
    community_id: str
    jurisdiction_id: str
    households: list[dict[str, Any]]
    codes: dict[str, str]
    now: datetime
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
            user.password_hash = hash_password(password)
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


@asynccontextmanager
async def _all_or_nothing(db: Database) -> AsyncIterator[None]:
    """Every session of ``db`` — the demo's own and each request's — runs on one connection inside one outer
    transaction: a request's commit only releases its savepoint, and a failure at any step rolls the whole
    demo back, so a failed demo leaves nothing behind. (The demo's requests run one after another.)"""
    async with db.writer.connect() as conn:
        await conn.begin()
        maker = async_sessionmaker(bind=conn, class_=AsyncSession, expire_on_commit=False,
                                   join_transaction_mode="create_savepoint")
        saved = db.write_session, db.read_session
        db.write_session = db.read_session = maker
        try:
            yield
        except BaseException:
            await conn.rollback()
            raise
        else:
            await conn.commit()
        finally:
            db.write_session, db.read_session = saved


async def build(db: Database, clock: Clock, today: date | None = None) -> dict[str, Any]:
    """Build the demo through the API, all of it or (on any failure) none of it. ``today`` is the business
    date the notice starts on: by default the clock's date in Asia/Shanghai."""
    from app.main import create_app

    now = clock.now()
    today = today or business_date(now)
    settings = db.settings
    admin_pw = "Demo-admin-" + secrets.token_hex(4)
    staff_pw = "Demo-staff-" + secrets.token_hex(4)
    suffix = secrets.token_hex(2)
    app = create_app(settings, clock=clock)
    await app.state.db.dispose()
    app.state.db = db
    try:
        async with _all_or_nothing(db):
            await _ensure_user(db, clock, "demo-admin", admin_pw, "演示管理员", Role.ADMIN, "*")
            return await _build_through_api(app, now, today, admin_pw, staff_pw, suffix)
    finally:
        await app.state.http.aclose()


async def _build_through_api(app: Any, now: datetime, today: date, admin_pw: str, staff_pw: str,
                             suffix: str) -> dict[str, Any]:
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
        ctx = DemoContext(client, admin, staff, cid, jid, households, codes, now, today)
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
