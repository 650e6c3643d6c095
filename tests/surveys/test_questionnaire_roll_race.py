"""Imports, amendments, responses and results reads racing a questionnaire's opening: the roll never holds a
household imported after opening, nothing deadlocks, and the closed results are the count over the roll.

Each round: a willingness questionnaire and a motion opening a second ahead; the clock passes their opening;
then, at once (asyncio.gather through the ASGI app; on PostgreSQL truly concurrent transactions, the responses
holding the questionnaire row FOR SHARE while the import and the amendment want it FOR UPDATE, the import
freezing the motion's roll too, every one of them appending to the community's audit chain): a household
import, one roll amendment (remove), three online responses of different owners, a results read and two
ballots. Then close, and check the willingness tally against a count made here from the published roll and
the accepted answers.
Rounds: ``QROLL_RACE_ROUNDS`` (default 40 on PostgreSQL, 10 on SQLite, where writes are serialized)."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

from tests.factories import import_csv
from tests.surveys.helpers import answer, make_project, make_questionnaire
from tests.voting.helpers import activate_all, make_motion, make_plan, vote
from tests.voting.test_roll_race import later

API = "/api/v1"


async def test_imports_amendments_and_responses_race_the_opening(client, world, clock, app) -> None:
    postgres = app.state.db.dialect == "postgresql"
    rounds = int(os.environ.get("QROLL_RACE_ROUNDS", "40" if postgres else "10"))
    rng = random.Random(20261203)
    owners = await activate_all(client, world)
    owner_a = {world.household(b, u, "101")["id"] for b, u in (("1", "1"), ("1", "2"), ("2", "1"))}
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    registered = len(world.households)
    for i in range(rounds):
        q = await make_questionnaire(client, world, pid,
                                     opens_at=(clock.now() + timedelta(seconds=1)).isoformat())
        qid, wq = q["id"], q["questions"][0]["id"]
        m = await make_motion(client, world, plan["id"], clock.now(),
                              opens_at=(clock.now() + timedelta(seconds=1)).isoformat())
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
        picks = {hid: rng.choice([True, False]) for hid in voters}
        owner = rng.choice(["", "OWNER-A", f"NEW-{i}"])
        calls = [import_csv(client, world.staff, world.community_id,
                            f"building,unit,room,area_m2,owner_key\n{rng.choice('12')},2,Q{i:04d},"
                            f"{rng.randint(30, 500)}.00,{owner}\n"),
                 client.post(f"{API}/questionnaires/{qid}/roll/amendments", headers=world.staff,
                             json={"household_id": removed, "action": "remove", "reason": f"第{i}轮核对"}),
                 client.get(f"{API}/questionnaires/{qid}/results", headers=world.staff),
                 vote(client, owners[pool[-1]], m["id"], "agree"), vote(client, owners[pool[-2]], m["id"], "disagree"),
                 *(answer(client, owners[hid], qid, [{"question_id": wq, "value": picks[hid]}]) for hid in voters)]
        imp, amendment, read, *ballots_and_responses = await asyncio.gather(
            *(later(c, rng.random() * 0.04) for c in calls))
        assert imp.status_code == 200, (i, imp.text)
        assert sorted(imp.json()["open_rolls_unchanged"], key=lambda o: o["kind"]) == [
            {"kind": "motion", "id": m["id"], "title": m["title"]},
            {"kind": "questionnaire", "id": qid, "title": q["title"]}]
        assert amendment.status_code == 201, (i, amendment.text)
        assert read.status_code == 200, (i, read.text)
        for r in ballots_and_responses:
            assert r.status_code == 200, (i, r.text)
        assert (await client.post(f"{API}/questionnaires/{qid}/close", headers=world.staff)).status_code == 200
        assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
        r = await client.get(f"{API}/questionnaires/{qid}/roll", headers=world.staff, params={"limit": 200})
        assert r.status_code == 200, r.text
        roll = r.json()
        entries = roll["entries"]
        assert roll["next_cursor"] is None and len(entries) == registered - 1, i  # the import is not on it
        assert removed not in {e["household_id"] for e in entries}
        group = {e["household_id"]: e["owner_group"] for e in entries}
        chose = {group[hid]: picks[hid] for hid in voters}
        expected = {"total_households": len(entries), "total_owners": len(set(group.values())),
                    "total_area": sum(e["area_centi"] for e in entries)}
        for bucket, value in (("agree", True), ("disagree", False)):
            mine = [e for e in entries if chose.get(e["owner_group"]) is value]
            expected |= {f"{bucket}_households": len(mine), f"{bucket}_owners": len({e["owner_group"] for e in mine}),
                         f"{bucket}_area": sum(e["area_centi"] for e in mine)}
        res = (await client.get(f"{API}/questionnaires/{qid}/results", headers=world.staff)).json()
        counts = res["willingness"]["tally"]["counts"]
        assert {k: counts[k] for k in expected} == expected, i
        assert res["participation"]["households"]["count"] == len(voters)
        registered += 1
