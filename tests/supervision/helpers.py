"""Shared set-up for supervision and media tests: a project with a supervisor and a contractor."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import func
from sqlmodel import select

from app.media.models import MediaObject
from app.supervision.models import Report
from tests.factories import World, auth, login

PASSWORD = "supervise-pass-2026!"


@dataclass
class Project:
    id: str
    supervisor_id: str
    supervisor: dict
    contractor_id: str
    contractor: dict


async def create_project(client: httpx.AsyncClient, world: World, title: str = "幸福里小区综合整治") -> str:
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def appoint(client: httpx.AsyncClient, world: World, project_id: str, kind: str, username: str,
                  **extra) -> tuple[str, dict]:
    body = {"name": f"{kind}-{username}", "phone": "13912345678", "username": username, "password": PASSWORD}
    if kind == "supervisors":
        body["source"] = extra.pop("source", "deputy")
    body |= extra
    r = await client.post(f"/api/v1/projects/{project_id}/{kind}", headers=world.staff, json=body)
    assert r.status_code == 201, r.text
    tokens = await login(client, username, PASSWORD)
    return r.json()["user_id"], auth(tokens["access_token"])


async def project_with_people(client: httpx.AsyncClient, world: World, suffix: str = "") -> Project:
    pid = await create_project(client, world, title=f"综合整治{suffix}")
    sid, sh = await appoint(client, world, pid, "supervisors", f"sup{suffix}")
    cid, ch = await appoint(client, world, pid, "contractors", f"con{suffix}", organization="青岛建工")
    return Project(pid, sid, sh, cid, ch)


def photo_files(*images: bytes, name: str = "IMG_0001.jpg", ctype: str = "image/jpeg") -> list[tuple]:
    return [("photos", (name, data, ctype)) for data in images]


REPORT_FIELDS = {"catalog_item": "外墙保温", "severity": "major", "description": "三号楼东侧外墙保温层空鼓脱落"}


async def file_report(client: httpx.AsyncClient, project_id: str, headers: dict, *images: bytes,
                      **fields) -> httpx.Response:
    return await client.post(f"/api/v1/projects/{project_id}/reports", headers=headers,
                             data=REPORT_FIELDS | fields, files=photo_files(*images))


async def counts(app) -> tuple[int, int]:
    """(media rows, reports) straight from the database."""
    async with app.state.db.read_session() as s:
        media = (await s.exec(select(func.count()).select_from(MediaObject))).one()
        reports = (await s.exec(select(func.count()).select_from(Report))).one()
    return int(media), int(reports)


async def relogin(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict:
    """Fresh headers after the clock moved past the access token's life."""
    return auth((await login(client, username, password))["access_token"])


async def token_for(app, user_id: str) -> dict:
    """A fresh access token for any user (residents have no password), issued at the clock's now."""
    from app.auth import service as auth_service

    async with app.state.db.write_session() as s:
        pair = await auth_service.issue_tokens(s, settings=app.state.settings, user_id=user_id,
                                                 now=app.state.clock.now())
        await s.commit()
    return auth(pair.access_token)


# ---- deadlines, messages and the street office ----------------------------------------------------------

async def act(client: httpx.AsyncClient, report_id: str, headers: dict, action: str, **body) -> httpx.Response:
    return await client.post(f"/api/v1/reports/{report_id}/transitions", headers=headers,
                             json={"action": action, **body})


async def street_office(app, jurisdiction_id: str, *, username: str = "street", openid: str | None = None) -> str:
    """An admin of the jurisdiction (the street office), written directly (tests/supervision/test_office.py grants
    one through ``POST /jurisdictions/{id}/admins``), optionally bound to WeChat; its id."""
    from app.auth import service as auth_service
    from app.auth.models import Role

    now = app.state.clock.now()
    async with app.state.db.write_session() as s:
        user = await auth_service.create_user(s, username=username, password=PASSWORD, name="街道办", now=now)
        await auth_service.grant(s, user_id=user.id, role=Role.ADMIN, scope_id=jurisdiction_id, now=now, by=None)
        user.wechat_openid = openid
        s.add(user)
        if openid:
            await _subscribed(s, user.id, now)
        await s.commit()
        return user.id


async def _subscribed(s, user_id: str, now) -> None:
    """As if the user had accepted the subscribe template many times (one grant, one message)."""
    from app.turnout.models import SubscriptionGrant

    s.add(SubscriptionGrant(user_id=user_id, template_id="reminder-template", unused=50, updated_at=now))


async def bind_openid(app, user_id: str, openid: str) -> None:
    """As if the user had signed in with WeChat once and accepted the subscribe template (the outbox reaches only
    such users)."""
    from app.auth.models import User

    async with app.state.db.write_session() as s:
        user = await s.get(User, user_id)
        assert user is not None
        user.wechat_openid = openid
        s.add(user)
        await _subscribed(s, user_id, app.state.clock.now())
        await s.commit()


async def report_messages(app) -> list:
    """The outbox rows about reports, oldest first."""
    from app.turnout.models import OutboxMessage

    async with app.state.db.read_session() as s:
        q = (select(OutboxMessage).where(OutboxMessage.item_type == "report")
             .order_by(OutboxMessage.created_at, OutboxMessage.id))
        return list((await s.exec(q)).all())


async def deadline_round(app):
    """One run of the worker's deadline round, committed."""
    from app.supervision.service import run_deadline_alerts

    async with app.state.db.write_session() as s:
        run = await run_deadline_alerts(s, now=app.state.clock.now())
        await s.commit()
    return run
