"""Online ballots: one per household in scope, by an owner or co-owner, replaced until close, every version
kept, receipts that confirm without revealing, Idempotency-Key, and concurrent casts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.factories import activate
from tests.voting.helpers import (
    API,
    add_member,
    make_motion,
    make_plan,
    make_project,
    relogin,
    setup_motion,
    unit_ids,
    vote,
)


async def history(client, world, motion_id: str, **params) -> list[dict]:
    r = await client.get(f"{API}/motions/{motion_id}/ballots", headers=world.staff, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_cast_replace_and_receipts(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    me = world.residents[1]
    r = await vote(client, me.headers, m["id"], "agree")
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["household_id"] == me.household_id and first["choice"] == "agree" and first["version"] == 1
    assert first["channel"] == "online" and len(first["receipt"]) >= 20
    clock.advance(seconds=30)
    r = await vote(client, me.headers, m["id"], "disagree")
    second = r.json()
    assert second["version"] == 2 and second["receipt"] != first["receipt"]
    got = (await client.get(f"{API}/motions/{m['id']}", headers=me.headers)).json()["my_households"][0]
    assert got["voted"] is True and got["choice"] == "disagree" and got["channel"] == "online"
    # both versions kept, the latest current; staff do not see choices (Laoshan: staff_see_choices false)
    h = await history(client, world, m["id"])
    assert [(x["version"], x["current"], x["choice"]) for x in h] == [(1, False, None), (2, True, None)]
    assert h[0]["room"] == "102" and h[0]["actor_id"] == me.user_id
    # the receipt: anyone holding it sees it is recorded; the choice only for members of the household
    anon = await client.get(f"{API}/ballot-receipts/{first['receipt']}")
    assert anon.status_code == 200, anon.text
    body = anon.json()
    assert body["motion_id"] == m["id"] and body["motion_title"] == m["title"] and body["channel"] == "online"
    assert body["status"] == "superseded" and body["current"] is False and body["counted"] is False
    assert body["choice"] is None
    r = await client.get(f"{API}/ballot-receipts/{second['receipt']}", headers=world.residents[0].headers)
    assert r.json()["status"] == "current" and r.json()["counted"] is True and r.json()["choice"] is None
    r = await client.get(f"{API}/ballot-receipts/{second['receipt']}", headers=world.staff)
    assert r.json()["choice"] is None
    r = await client.get(f"{API}/ballot-receipts/{second['receipt']}", headers=me.headers)
    assert r.json()["choice"] == "disagree" and r.json()["cast_at"].startswith("2026-11-23T02:00:30")
    for bad in ("nope", "x" * 100):
        r = await client.get(f"{API}/ballot-receipts/{bad}")
        assert r.status_code == 404 and r.json()["code"] == "receipt.not_found"


async def test_window_is_decided_by_the_server_clock(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, opens_at=(now + timedelta(minutes=5)).isoformat(),
                          closes_at=(now + timedelta(minutes=10)).isoformat())
    me = world.residents[1].headers
    r = await vote(client, me, m["id"], "agree")
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed"
    assert r.json()["motion_status"] == "scheduled"
    clock.advance(minutes=5)
    assert (await vote(client, me, m["id"], "agree")).status_code == 200
    clock.advance(minutes=5)  # closes_at itself is already closed
    r = await vote(client, me, m["id"], "disagree")
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed"
    assert r.json()["motion_status"] == "closed"
    # explicit close: nothing changes afterwards either
    m2 = await make_motion(client, world, plan["id"], clock.now())
    assert (await client.post(f"{API}/motions/{m2['id']}/close", headers=world.staff)).status_code == 200
    r = await vote(client, me, m2["id"], "agree")
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed"
    assert len(await history(client, world, m["id"])) == 1


async def test_scope_relation_choice_and_household_required(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    owner_a = world.residents[0]  # 1-1-101, OWNER-A
    _, unit_11 = (await unit_ids(client, owner_a.headers))[owner_a.household_id]
    m = await make_motion(client, world, plan["id"], now, matter="elevator", scope="unit", unit_id=unit_11)
    # 1-2-101 is in another unit: 404, whether named or not
    other = world.residents[3]
    r = await vote(client, other.headers, m["id"], "agree")
    assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope"
    r = await vote(client, owner_a.headers, m["id"], "agree", household_id=other.household_id)
    assert r.status_code == 404
    # invalid choice
    for bad in ("yes", "", None, 1):
        r = await client.put(f"{API}/motions/{m['id']}/ballot", headers=owner_a.headers, json={"choice": bad})
        assert r.status_code == 422, bad
    r = await client.put(f"{API}/motions/{m['id']}/ballot", headers=owner_a.headers,
                         json={"choice": "agree", "extra": 1})
    assert r.status_code == 422
    # a tenant of 1-1-201 may not vote for it
    tenant = await add_member(client, world, world.residents[2].household_id, "tenant", "13700137001")
    r = await vote(client, tenant, m["id"], "agree")
    assert r.status_code == 403 and r.json()["code"] == "ballot.not_permitted_relation"
    family = await add_member(client, world, world.residents[2].household_id, "family", "13700137002")
    r = await vote(client, family, m["id"], "agree", household_id=world.residents[2].household_id)
    assert r.status_code == 403 and r.json()["code"] == "ballot.not_permitted_relation"
    # staff cannot vote online; another community's resident does not see the motion
    assert (await vote(client, world.staff, m["id"], "agree")).status_code == 403
    # the first resident becomes an owner of 1-1-102 too: two acting households in scope
    hid_102 = world.household("1", "1", "102")["id"]
    r = await activate(client, (await _code(client, world, hid_102)), "居民1", phone="13800130000",
                       headers=owner_a.headers)
    assert r.status_code == 200, r.text
    r = await vote(client, owner_a.headers, m["id"], "agree")
    assert r.status_code == 422 and r.json()["code"] == "ballot.household_required"
    r = await vote(client, owner_a.headers, m["id"], "agree", household_id=hid_102)
    assert r.status_code == 200 and r.json()["household_id"] == hid_102
    assert (await vote(client, owner_a.headers, m["id"], "abstain",
                       household_id=owner_a.household_id)).status_code == 200
    r = await client.put(f"{API}/motions/nope/ballot", headers=owner_a.headers, json={"choice": "agree"})
    assert r.status_code == 404 and r.json()["code"] == "motion.not_found"


async def _ballot_marks(app, motion_id: str, chain: str) -> tuple[int, int, int]:
    """The motion's last ballot number, its ballots and the community's audit chain head."""
    from sqlalchemy import text

    async with app.state.db.read_session() as s:
        seq = (await s.exec(text("SELECT ballot_seq FROM motion WHERE id = :m").bindparams(m=motion_id))).one()[0]
        n = (await s.exec(text("SELECT count(*) FROM ballot WHERE motion_id = :m").bindparams(m=motion_id))).one()[0]
        head = (await s.exec(text("SELECT last_seq FROM audit_head WHERE chain = :c").bindparams(c=chain))).one()[0]
    return int(seq), int(n), int(head)


async def test_a_refused_ballot_leaves_no_number_taken(app, client, world, clock) -> None:
    """An online ballot takes the motion's next number in its first statement and is authorized after it: every
    refusal on an open motion rolls the number back (and the audit head it locked), and where no number was
    taken the refusals keep their order (403 before the closed window)."""
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    owner_a = world.residents[0]
    _, unit_11 = (await unit_ids(client, owner_a.headers))[owner_a.household_id]
    m = await make_motion(client, world, plan["id"], now, scope="unit", unit_id=unit_11,
                          closes_at=(now + timedelta(minutes=5)).isoformat())
    assert (await vote(client, owner_a.headers, m["id"], "agree")).status_code == 200
    tenant = await add_member(client, world, world.residents[2].household_id, "tenant", "13700137011")
    before = await _ballot_marks(app, m["id"], world.community_id)
    assert before[:2] == (1, 1)
    refused = [(world.residents[3].headers, {}, 404), (world.staff, {}, 403), (tenant, {}, 403),
               (owner_a.headers, {"household_id": world.residents[3].household_id}, 404)]
    for headers, extra, status in refused:
        r = await vote(client, headers, m["id"], "disagree", **extra)
        assert r.status_code == status, r.text
    assert await _ballot_marks(app, m["id"], world.community_id) == before
    r = await vote(client, world.residents[2].headers, m["id"], "disagree")
    assert r.status_code == 200, r.text
    assert (await _ballot_marks(app, m["id"], world.community_id))[:2] == (2, 2)
    clock.advance(minutes=6)
    assert (await vote(client, world.staff, m["id"], "agree")).status_code == 403
    r = await vote(client, owner_a.headers, m["id"], "agree")
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed", r.text
    assert (await _ballot_marks(app, m["id"], world.community_id))[:2] == (2, 2)


async def test_the_number_take_reads_what_a_ballot_changes_as_the_separate_read_does(app, client, world, clock) -> None:
    """On SQLite the statement that takes the motion's number also reads, for the household named, what its
    ballot changes (the owner's households, area and current choice, the household's ballots, its open slip):
    the same as :func:`owner_before_ballot` for every household, an owner of three among them, as ballots come
    in. On PostgreSQL it reads none of it (that read follows the motion's lock). On both it says whether the
    household is on the roll."""
    from app.voting import repository as voting_repo

    _, _, m = await setup_motion(client, world, clock.now())
    steps = [(world.residents[1], "agree"), (world.residents[0], "agree"), (world.residents[3], "disagree"),
             (world.residents[2], "abstain"), (world.residents[0], "disagree")]
    compared, seen = 0, set()
    for resident, choice in steps:
        assert (await vote(client, resident.headers, m["id"], choice)).status_code == 200
        for h in [*world.households, {"id": "not-on-the-roll"}]:
            async with app.state.db.write_session() as s:
                took = await voting_repo.take_ballot_number(s, motion_id=m["id"], now=clock.now(),
                                                            household_id=h["id"])
                assert took is not None and took.plan_current
                separate = await voting_repo.owner_before_ballot(s, took.motion, h["id"])
                await s.rollback()
            seen.add((separate.households, separate.choice))
            assert took.on_roll == (h["id"] != "not-on-the-roll"), h
            if app.state.db.is_sqlite:
                assert took.before == separate, h
                compared += 1
            else:
                assert took.before is None
    # the three households of one owner, their choice moved; one household each; a household not on the roll
    assert {(3, "agree"), (3, "disagree"), (1, None), (1, "agree"), (1, "abstain"), (0, None)} <= seen, seen
    assert compared == (len(steps) * (len(world.households) + 1) if app.state.db.is_sqlite else 0)


async def _code(client, world, household_id: str) -> str:
    from tests.factories import issue_codes

    return (await issue_codes(client, world.staff, world.community_id, [household_id], relation="owner"))[household_id]


async def test_superseded_plan_stops_voting(client, world, clock) -> None:
    _, plan, m = await setup_motion(client, world, clock.now())
    me = world.residents[1].headers
    assert (await vote(client, me, m["id"], "agree")).status_code == 200
    r = await client.post(f"{API}/plans/{plan['id']}/revisions", headers=world.staff,
                          json={"title": "修订版", "items": [{"title": "屋面防水", "budget_fen": 1}]})
    assert r.status_code == 201
    r = await vote(client, me, m["id"], "disagree")
    assert r.status_code == 409 and r.json()["code"] == "motion.plan_superseded"
    assert (await client.get(f"{API}/motions/{m['id']}", headers=me)).json()["plan_superseded"] is True
    # and no new motion goes on the old version
    r = await client.post(f"{API}/plans/{plan['id']}/motions", headers=world.staff,
                          json={"title": "x", "opens_at": clock.now().isoformat(),
                                "closes_at": (clock.now() + timedelta(days=1)).isoformat()})
    assert r.status_code == 409 and r.json()["code"] == "plan.superseded"


async def test_idempotency_key(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    me = world.residents[1].headers
    r1 = await vote(client, me, m["id"], "agree", key="tablet-1")
    r2 = await vote(client, me, m["id"], "agree", key="tablet-1")
    assert r1.status_code == r2.status_code == 200
    assert r2.json() == r1.json() and r2.headers.get("idempotent-replayed") == "true"
    assert len(await history(client, world, m["id"])) == 1
    r3 = await vote(client, me, m["id"], "disagree", key="tablet-1")
    assert r3.status_code == 409 and r3.json()["code"] == "idempotency.key_reused"
    assert len(await history(client, world, m["id"])) == 1
    # a failed request leaves no claim: the same key works once the problem is gone
    r = await vote(client, me, m["id"], "agree", household_id="z" * 32, key="tablet-2")
    assert r.status_code == 404
    r = await vote(client, me, m["id"], "disagree", key="tablet-2")
    assert r.status_code == 200 and r.json()["version"] == 2


async def test_concurrent_casts_leave_one_current_ballot(client, world, clock, app) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    owner = world.residents[1]
    co_owner = await add_member(client, world, owner.household_id, "co_owner", "13600136000")
    r1, r2 = await asyncio.gather(vote(client, owner.headers, m["id"], "agree"),
                                  vote(client, co_owner, m["id"], "disagree"))
    assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
    assert {r1.json()["version"], r2.json()["version"]} == {1, 2}
    h = await history(client, world, m["id"])
    assert len(h) == 2 and sum(x["current"] for x in h) == 1 and h[-1]["current"] is True
    from sqlalchemy import text

    async with app.state.db.read_session() as s:
        rows = (await s.exec(text("SELECT household_id, choice, seq FROM current_ballot WHERE motion_id = :m")
                             .bindparams(m=m["id"]))).all()
    assert len(rows) == 1 and rows[0][0] == owner.household_id and rows[0][2] == 2
    latest = r1.json() if r1.json()["version"] == 2 else r2.json()
    assert rows[0][1] == latest["choice"]
    t = (await client.get(f"{API}/motions/{m['id']}/tally", headers=world.staff)).json()
    assert t["counts"]["participating_households"] == 1


async def test_receipts_after_close_and_relogin(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, closes_at=(now + timedelta(hours=1)).isoformat())
    receipt = (await vote(client, world.residents[1].headers, m["id"], "abstain")).json()["receipt"]
    clock.advance(hours=2)
    await relogin(client, world)
    r = await client.get(f"{API}/ballot-receipts/{receipt}", headers=world.residents[1].headers)
    assert r.status_code == 200
    assert r.json()["motion_status"] == "closed" and r.json()["counted"] is True and r.json()["choice"] == "abstain"
