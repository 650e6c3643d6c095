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
