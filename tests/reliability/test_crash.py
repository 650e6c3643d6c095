"""Crash safety: a real server process takes concurrent ballots, is killed with SIGKILL mid-load and
restarted; every ballot that was acknowledged with a 2xx is still there and the audit chain verifies."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.factories import populate_world
from tests.reliability.conftest import ADMIN_PASS, ADMIN_USER

pytestmark = pytest.mark.slow
HOUSEHOLDS = 40


def _csv(n: int) -> str:
    rows = ["building,unit,room,area_m2,owner_key"]
    rows += [f"{1 + i // 20},{1 + (i // 10) % 2},{101 + i % 10},{60 + i}.50," for i in range(n)]
    return "\n".join(rows) + "\n"


async def _setup(base_url: str):
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        world = await populate_world(c, ADMIN_USER, ADMIN_PASS, residents=HOUSEHOLDS, csv_text=_csv(HOUSEHOLDS))
        r = await c.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                         json={"title": "崩溃测试项目"})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = await c.post(f"/api/v1/projects/{pid}/plans", headers=world.staff, json={
            "title": "方案", "items": [{"title": "屋面防水", "budget_fen": 100_000_00}]})
        assert r.status_code == 201, r.text
        now = datetime.now(UTC)
        r = await c.post(f"/api/v1/plans/{r.json()['id']}/motions", headers=world.staff, json={
            "title": "崩溃测试表决", "matter": "renovation_plan", "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=3)).isoformat()})
        assert r.status_code == 201, r.text
        return world, r.json()["id"]


async def _load(base_url: str, world, motion_id: str, acked: list[dict], stop: asyncio.Event) -> None:
    rnd = random.Random(3)

    async def voter(res) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as c:
            while not stop.is_set():
                choice = rnd.choice(["agree", "disagree", "abstain"])
                try:
                    r = await c.put(f"/api/v1/motions/{motion_id}/ballot", headers=res.headers, json={"choice": choice})
                except httpx.HTTPError:
                    return  # the server died under us
                if r.status_code == 200:
                    acked.append({"household_id": res.household_id, "receipt": r.json()["receipt"],
                                  "choice": choice})
                else:
                    assert r.status_code < 500, r.text

    await asyncio.gather(*(voter(res) for res in world.residents[:16]))


def test_acknowledged_ballots_survive_sigkill(server) -> None:
    world, motion_id = asyncio.run(_setup(server.base_url))
    acked: list[dict] = []

    async def run_and_kill() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(_load(server.base_url, world, motion_id, acked, stop))
        while len(acked) < 150:  # noqa: ASYNC110 - polling a list the voters append to
            await asyncio.sleep(0.02)
        server.kill()  # SIGKILL with requests in flight
        stop.set()
        await task

    asyncio.run(run_and_kill())
    assert len(acked) >= 150
    server.start()

    async def check() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as c:
            for a in acked:
                r = await c.get(f"/api/v1/ballot-receipts/{a['receipt']}")
                assert r.status_code == 200, (a, r.text)
            # the last acknowledged ballot of each household is current or superseded by a later cast
            last: dict[str, dict] = {}
            for a in acked:
                last[a["household_id"]] = a
            tally = await c.get(f"/api/v1/motions/{motion_id}/tally", headers=world.staff)
            assert tally.status_code == 200
            counts = tally.json()["counts"]
            participating = counts["agree_households"] + counts["disagree_households"] + counts["abstain_households"]
            assert participating >= len(last)

    asyncio.run(check())
    r = server.cli("audit-verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "BROKEN" not in r.stdout
