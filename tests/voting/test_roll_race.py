"""Imports, amendments and ballots racing a motion's opening: every stored final tally is the count over its
roll, the roll never holds a household imported after opening, and the running tally never drifts.

Each round: a motion opening a second ahead; the clock passes its opening; then, at once (asyncio.gather
through the ASGI app; on PostgreSQL these are truly concurrent transactions): a household import, three
online ballots of different owners and one roll amendment (remove). Then close, and check the stored final
tally against a count made here from the published roll and the accepted ballots.
Rounds: ``ROLL_RACE_ROUNDS`` (default 200 on PostgreSQL, 25 on SQLite, where writes are serialized)."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

from app.voting import service as voting_service
from tests.factories import import_csv
from tests.voting.helpers import API, activate_all, make_motion, make_plan, make_project, vote


def expected_counts(entries: list[dict], choices: dict[str, str]) -> dict[str, int]:
    """The count over the roll: an owner group's choice is the one ballot cast by a household of the group that
    is on the roll (each round has at most one voter per owner)."""
    group_choice = {e["owner_group"]: choices[e["household_id"]] for e in entries if e["household_id"] in choices}
    out = {"total_households": len(entries), "total_owners": len({e["owner_group"] for e in entries}),
           "total_area": sum(e["area_centi"] for e in entries)}
    for c in ("agree", "disagree", "abstain"):
        mine = [e for e in entries if group_choice.get(e["owner_group"]) == c]
        out |= {f"{c}_households": len(mine), f"{c}_owners": len({e["owner_group"] for e in mine}),
                f"{c}_area": sum(e["area_centi"] for e in mine)}
    return out


async def later(call, delay: float):
    await asyncio.sleep(delay)
    return await call


async def whole_roll(client, headers: dict, motion_id: str) -> dict:
    """The roll with every entry (following the cursor)."""
    params: dict = {"limit": 200}
    entries: list[dict] = []
    while True:
        r = await client.get(f"{API}/motions/{motion_id}/roll", headers=headers, params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        entries += page["entries"]
        if page["next_cursor"] is None:
            return page | {"entries": entries}
        params["cursor"] = page["next_cursor"]


async def test_imports_amendments_and_ballots_race_the_opening(client, world, clock, app) -> None:
    postgres = app.state.db.dialect == "postgresql"
    rounds = int(os.environ.get("ROLL_RACE_ROUNDS", "200" if postgres else "25"))
    rng = random.Random(20261202)
    owners = await activate_all(client, world)
    owner_a = {h["id"] for h in world.households if h["room"] == "101"
               and (h["building"], h["unit"]) in {("1", "1"), ("1", "2"), ("2", "1")}}
    plan = await make_plan(client, world, await make_project(client, world))
    registered = len(world.households)
    mismatches = voting_service.METRICS["tally_mismatch"]
    for i in range(rounds):
        now = clock.now()
        m = await make_motion(client, world, plan["id"], now, opens_at=(now + timedelta(seconds=1)).isoformat())
        clock.advance(seconds=2)
        pool = sorted(owners)
        rng.shuffle(pool)
        voters: list[str] = []
        for hid in pool:
            if len(voters) == 3:
                break
            if hid in owner_a and any(v in owner_a for v in voters):
                continue  # one voter per owner in a round
            voters.append(hid)
        removed = next(hid for hid in pool if hid not in voters)
        picks = {hid: rng.choice(["agree", "disagree", "abstain"]) for hid in voters}
        owner = rng.choice(["", "OWNER-A", f"NEW-{i}"])
        calls = [import_csv(client, world.staff, world.community_id,
                            f"building,unit,room,area_m2,owner_key\n{rng.choice('12')},1,R{i:04d},{rng.randint(30, 500)}.00,"
                            f"{owner}\n"),
                 client.post(f"{API}/motions/{m['id']}/roll/amendments", headers=world.staff,
                             json={"household_id": removed, "action": "remove", "reason": f"第{i}轮核对"}),
                 *(vote(client, owners[hid], m["id"], picks[hid]) for hid in voters)]
        # random starts within 40 ms: the import commits before, between or after the others
        imp, amendment, *ballots = await asyncio.gather(*(later(c, rng.random() * 0.04) for c in calls))
        assert imp.status_code == 200, imp.text
        assert imp.json()["open_rolls_unchanged"] == [{"kind": "motion", "id": m["id"], "title": m["title"]}]
        assert amendment.status_code == 201, amendment.text
        accepted = {}
        for hid, r in zip(voters, ballots, strict=True):
            assert r.status_code == 200, (i, r.text)
            accepted[hid] = picks[hid]
        closed = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
        assert closed.status_code == 200, closed.text
        roll = await whole_roll(client, world.staff, m["id"])
        # the roll is the register at opening (never the racing import) less the amendment
        assert roll["totals"]["households"] == registered - 1, i
        assert removed not in {e["household_id"] for e in roll["entries"]}
        counts = closed.json()["tally"]["counts"]
        got = {k: counts[k] for k in expected_counts([], {})}
        assert got == expected_counts(roll["entries"], accepted), i
        registered += 1
    assert voting_service.METRICS["tally_mismatch"] == mismatches  # the running rows never drifted
