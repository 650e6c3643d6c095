"""Helpers of the survey tests: a project, questionnaires, answering (all over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx

from tests.factories import ADMIN_PASSWORD, STAFF_PASSWORD, World, activate, auth, issue_codes, login

SH = ZoneInfo("Asia/Shanghai")


def sh(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(y, m, d, h, mi, tzinfo=SH).astimezone(UTC)


async def make_project(client: httpx.AsyncClient, world: World, title: str = "幸福里小区综合改造") -> str:
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": title})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def make_questionnaire(client: httpx.AsyncClient, world: World, project_id: str, *, open_: bool = True,
                             **body) -> dict:
    body.setdefault("kind", "willingness")
    r = await client.post(f"/api/v1/projects/{project_id}/questionnaires", headers=world.staff, json=body)
    assert r.status_code == 201, r.text
    q = r.json()
    if open_:
        r = await client.post(f"/api/v1/questionnaires/{q['id']}/open", headers=world.staff)
        assert r.status_code == 200, r.text
        q = r.json()
    return q


async def paper(client: httpx.AsyncClient, world: World, qid: str, household_id: str, answers: list[dict],
                **extra) -> httpx.Response:
    return await client.post(f"/api/v1/questionnaires/{qid}/paper-responses", headers=world.staff,
                             json={"household_id": household_id, "answers": answers, **extra})


async def answer(client: httpx.AsyncClient, headers: dict, qid: str, answers: list[dict],
                 **extra) -> httpx.Response:
    return await client.put(f"/api/v1/questionnaires/{qid}/response", headers=headers,
                            json={"answers": answers, **extra})


async def new_member(client: httpx.AsyncClient, world: World, household_id: str, relation: str, name: str,
                     phone: str) -> dict:
    """Another member of a household (co_owner, family, tenant) signed in: returns auth headers."""
    codes = await issue_codes(client, world.staff, world.community_id, [household_id], relation=relation)
    r = await activate(client, codes[household_id], name, phone=phone)
    assert r.status_code == 200, r.text
    return auth(r.json()["access_token"])


async def travel(client: httpx.AsyncClient, world: World, clock, when: datetime) -> None:
    """Move the clock; fresh tokens for admin, staff and residents (access tokens live 15 minutes)."""
    clock.set(when)
    world.admin_token = (await login(client, "admin", ADMIN_PASSWORD))["access_token"]
    world.staff_token = (await login(client, "staff1", STAFF_PASSWORD))["access_token"]
    for res in world.residents:
        r = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
        assert r.status_code == 200, r.text
        res.token, res.refresh_token = r.json()["access_token"], r.json()["refresh_token"]
