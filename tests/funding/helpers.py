"""Helpers of the funding tests: a project with a plan whose items have residents' shares, and the ledger's
calls, all over HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.projects.gates import PROVIDERS
from tests.factories import World
from tests.projects.helpers import fake_gate
from tests.voting.helpers import make_project

API = "/api/v1"
ROOF_SHARE = 70_000_01  # 70 % of the roof's 100,000.01 yuan budget falls on the residents (Anqiu's 30/70), in fen
WINDOWS_SHARE = 12_000_00


def plan_body(**overrides) -> dict:
    """Roof (community-wide, split by area), windows (building 1 only: whoever opts in), sewers (no residents'
    share: not a ledger line)."""
    body = {
        "title": "幸福里小区改造方案",
        "items": [
            {"catalog": "qingdao", "catalog_seq": 1, "title": "屋面防水", "budget_fen": 100_000_01,
             "funding": [{"source": "provincial_subsidy", "amount_fen": 30_000_00},
                         {"source": "residents", "amount_fen": ROOF_SHARE}]},
            {"title": "门窗更换", "scope": "building", "building": "1", "budget_fen": 12_000_00,
             "residents_share_fen": WINDOWS_SHARE},
            {"catalog": "qingdao", "catalog_seq": 5, "title": "雨污分流", "budget_fen": 50_000_00,
             "funding": [{"source": "utility", "amount_fen": 50_000_00}]},
        ],
    }
    body.update(overrides)
    return body


async def setup_plan(client: httpx.AsyncClient, world: World, **overrides) -> tuple[str, dict]:
    """A project and its plan: (project id, plan)."""
    pid = await make_project(client, world)
    r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff, json=plan_body(**overrides))
    assert r.status_code == 201, r.text
    return pid, r.json()


def item_id(plan: dict, title: str) -> str:
    return next(i["id"] for i in plan["items"] if i["title"] == title)


async def get_funding(client: httpx.AsyncClient, headers: dict, plan_id: str) -> dict:
    r = await client.get(f"{API}/plans/{plan_id}/funding", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def line(view: dict, title: str) -> dict:
    return next(i for i in view["items"] if i["title"] == title)


async def all_households(client: httpx.AsyncClient, headers: dict, plan_id: str, limit: int = 5) -> list[dict]:
    out: list[dict] = []
    cursor = None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await client.get(f"{API}/plans/{plan_id}/funding/households", headers=headers, params=params)
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


async def pledge(client: httpx.AsyncClient, headers: dict, plan_id: str, items: list[dict],
                 household_id: str | None = None, key: str | None = None) -> httpx.Response:
    body: dict = {"items": items} | ({"household_id": household_id} if household_id else {})
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    return await client.put(f"{API}/plans/{plan_id}/pledges", headers=h, json=body)


async def collect(client: httpx.AsyncClient, world: World, plan_id: str, household_id: str, item: str, amount: int,
                  receipt: str, day: str = "2026-11-23", key: str | None = None, **extra) -> httpx.Response:
    h = dict(world.staff) | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"{API}/plans/{plan_id}/collections", headers=h, json={
        "household_id": household_id, "item_id": item, "amount_fen": amount, "received_on": day, "method": "cash",
        "receipt_no": receipt, **extra})


async def refund(client: httpx.AsyncClient, world: World, plan_id: str, household_id: str, item: str, amount: int,
                 reason: str = "多缴退还", day: str = "2026-11-23", **extra) -> httpx.Response:
    return await client.post(f"{API}/plans/{plan_id}/refunds", headers=world.staff, json={
        "household_id": household_id, "item_id": item, "amount_fen": amount, "refunded_on": day,
        "method": "bank_transfer", "reason": reason, **extra})


def shares_of(rows: list[dict], title: str) -> dict[str, int | None]:
    """household id -> its share of the item, for the households in the item's scope."""
    out: dict[str, int | None] = {}
    for h in rows:
        for it in h["items"]:
            if it["title"] == title and it["in_scope"]:
                out[h["household_id"]] = it["share_fen"]
    return out


def earlier_gates_met(monkeypatch) -> None:
    """Every project gate but the funding gate stands met (the earlier stages are other domains' tests)."""
    for name in list(PROVIDERS.gates):
        if name != "funding_complete":
            monkeypatch.setitem(PROVIDERS.gates, name, fake_gate(name, True))


async def to_approved(client: httpx.AsyncClient, world: World, project_id: str) -> None:
    for stage in ("planning", "plan_publicity", "approved"):
        r = await client.post(f"{API}/projects/{project_id}/advance", headers=world.staff,
                              json={"to_stage": stage, "reason": "推进"})
        assert r.status_code == 200, r.text


ONE_DAY = timedelta(days=1)
