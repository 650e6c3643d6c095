"""Tallies: aggregate SQL with owner grouping, the rules engine's conditions, the final tally stored at close."""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy import text

from app.rules import Choice, Voter, count_electorate
from tests.factories import add_staff, auth, create_community, import_csv
from tests.voting.helpers import (
    API,
    activate_all,
    jpeg,
    make_motion,
    make_plan,
    paper,
    setup_motion,
    tally,
    vote,
)


def centi(area_m2: str) -> int:
    return int(Decimal(area_m2) * 100)


def cond(t: dict, name: str) -> dict:
    return next(c for c in t["conditions"] if c["name"] == name)


async def test_civil_code_major_with_one_owner_of_three_households(client, world, clock, app) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    homes = {(h["building"], h["unit"], h["room"]): h for h in world.households}
    area = {k: centi(h["area_m2"]) for k, h in homes.items()}
    res = {r.household_id: r for r in world.residents}
    a1 = res[homes[("1", "1", "101")]["id"]]  # OWNER-A
    a2 = res[homes[("1", "2", "101")]["id"]]  # OWNER-A again, another user of theirs
    for key in (("1", "1", "101"), ("1", "1", "102"), ("1", "1", "201")):
        assert (await vote(client, res[homes[key]["id"]].headers, m["id"], "agree")).status_code == 200
    for key, choice in ((("1", "2", "102"), "agree"), (("1", "2", "201"), "agree"), (("2", "1", "102"), "agree"),
                        (("2", "1", "201"), "disagree"), (("2", "2", "101"), "abstain")):
        r = await paper(client, world, m["id"], homes[key]["id"], choice, photo=jpeg())
        assert r.status_code == 201, r.text
    # residents in scope see nothing before close
    r = await tally(client, a1.headers, m["id"])
    assert r.status_code == 403 and r.json()["code"] == "tally.not_public"
    t = (await tally(client, world.staff, m["id"])).json()
    owner_a = area[("1", "1", "101")] + area[("1", "2", "101")] + area[("2", "1", "101")]
    agree_area = owner_a + sum(area[k] for k in (("1", "1", "102"), ("1", "1", "201"), ("1", "2", "102"),
                                                 ("1", "2", "201"), ("2", "1", "102")))
    total_area = sum(area.values())
    c = t["counts"]
    assert (c["total_households"], c["total_owners"], c["total_area"]) == (12, 10, total_area)
    # OWNER-A's one ballot counts for all three households, once in the headcount, with summed area
    assert (c["agree_households"], c["agree_owners"], c["agree_area"]) == (8, 6, agree_area)
    assert (c["disagree_households"], c["disagree_owners"], c["disagree_area"]) == (1, 1, 7000)
    assert (c["abstain_households"], c["abstain_owners"], c["abstain_area"]) == (1, 1, 12010)
    part_area = agree_area + 7000 + 12010
    assert (cond(t, "participation_headcount")["numerator"], cond(t, "participation_headcount")["denominator"]) == (8, 10)
    assert (cond(t, "participation_area")["numerator"], cond(t, "participation_area")["denominator"]) == (
        part_area, total_area)
    assert cond(t, "participation_area")["numerator_display"] == "806.88"
    head = cond(t, "agree_headcount")
    assert (head["numerator"], head["denominator"], head["required"], head["met"]) == (6, 8, "3/4", True)  # exactly 3/4
    assert cond(t, "agree_area")["met"] is True
    assert t["outcome"] == "pending" and t["window_open"] is True and t["final"] is False and t["status"] == "open"
    # OWNER-A votes again through another household: their latest ballot is their one choice
    clock.advance(seconds=10)
    assert (await vote(client, a2.headers, m["id"], "disagree")).status_code == 200
    c = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert (c["agree_households"], c["agree_owners"]) == (5, 5)
    assert (c["disagree_households"], c["disagree_owners"], c["disagree_area"]) == (4, 2, 7000 + owner_a)
    clock.advance(seconds=10)
    assert (await vote(client, a1.headers, m["id"], "agree")).status_code == 200
    # close: stored, published, final
    clock.advance(seconds=10)
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    final = r.json()["tally"]
    assert final["outcome"] == "passed" and final["final"] is True and final["window_open"] is False
    assert (final["counts"]["agree_households"], final["counts"]["agree_owners"]) == (8, 6)
    r = await tally(client, a1.headers, m["id"])
    assert r.status_code == 200 and r.json() == final
    # the vote-result notice: per condition the numbers, per household only room and area
    notices = (await client.get(f"{API}/communities/{world.community_id}/notices", headers=a1.headers)).json()
    vr = [n for n in notices["items"] if n["kind"] == "vote_result"]
    assert len(vr) == 1
    body = (await client.get(f"{API}/notices/{vr[0]['id']}", headers=a1.headers)).json()["body"]
    assert "806.88/951.87" in body and "6/8" in body and "通过" in body
    assert "共 10 户" in body and "80.00" in body and "120.10" in body
    assert "45.00" not in body and "居民" not in body and "13800" not in body
    # the stored result never changes: not with changed tables, nor with a changed profile
    async with app.state.db.write_session() as s:
        await s.exec(text("DELETE FROM current_ballot WHERE motion_id = :m").bindparams(m=m["id"]))
        await s.exec(text("UPDATE household SET area_centi = area_centi + 100000"))
        await s.commit()
    prof = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()["profile"]
    prof["matter_rules"]["renovation_plan"] = {"kind": "share_of_all_households", "threshold": "1/1"}
    await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=prof)
    assert (await tally(client, world.staff, m["id"])).json() == final
    assert (await tally(client, a2.headers, m["id"])).json() == final
    again = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert again.json()["tally"] == final


async def test_deadline_close_stores_the_result_once(client, world, clock, app) -> None:
    from datetime import timedelta

    from tests.voting.helpers import make_project, relogin

    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, closes_at=(now + timedelta(hours=2)).isoformat(),
                          rule={"kind": "majority_of_participants"})
    assert (await vote(client, world.residents[1].headers, m["id"], "agree")).status_code == 200
    clock.advance(hours=3)
    await relogin(client, world)
    # nobody closed it: the server clock did
    assert (await client.get(f"{API}/motions/{m['id']}", headers=world.staff)).json()["status"] == "closed"
    t1, t2 = (await tally(client, world.staff, m["id"])).json(), (await tally(client, world.residents[1].headers, m["id"])).json()
    assert t1 == t2 and t1["final"] is True and t1["outcome"] == "passed"
    assert t1["closed_at"].startswith("2026-11-23T04:00:00")
    async with app.state.db.read_session() as s:
        n = (await s.exec(text("SELECT count(*) FROM motion_result WHERE motion_id = :m").bindparams(m=m["id"]))).one()
        closes = (await s.exec(text("SELECT count(*) FROM audit_entry WHERE action = 'motion.closed'"))).one()
    assert n[0] == 1 and closes[0] == 1


async def test_tally_access(client, world, clock) -> None:
    from tests.projects.helpers import other_community
    from tests.voting.helpers import unit_ids

    now = clock.now()
    _, plan, m = await setup_motion(client, world, now)
    _, unit_11 = (await unit_ids(client, world.residents[0].headers))[world.residents[0].household_id]
    unit_m = await make_motion(client, world, plan["id"], now, matter="elevator", scope="unit", unit_id=unit_11)
    assert (await client.post(f"{API}/motions/{unit_m['id']}/close", headers=world.staff)).status_code == 200
    r = await tally(client, world.residents[3].headers, unit_m["id"])  # 1-2-101: another unit
    assert r.status_code == 403 and r.json()["code"] == "tally.not_in_scope"
    assert (await tally(client, world.residents[0].headers, unit_m["id"])).status_code == 200
    _, other_staff, other_resident = await other_community(client, world)
    for h in (other_staff, other_resident):
        assert (await tally(client, h, m["id"])).status_code == 404
        assert (await client.get(f"{API}/motions/{m['id']}", headers=h)).status_code == 404
        assert (await vote(client, h, m["id"], "agree")).status_code == 404
    assert (await tally(client, {}, m["id"])).status_code == 401


async def test_motion_of_zero_households(client, world, clock) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "空小区")
    _, token = await add_staff(client, world.admin, cid, "staff-empty")
    staff = auth(token)
    r = await client.post(f"{API}/communities/{cid}/projects", headers=staff, json={"title": "空小区改造"})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = await client.post(f"{API}/projects/{pid}/plans", headers=staff,
                          json={"title": "方案", "items": [{"title": "屋面", "budget_fen": 100}]})
    plan = r.json()
    now = clock.now()
    r = await client.post(f"{API}/plans/{plan['id']}/motions", headers=staff,
                          json={"title": "空表决", "opens_at": now.isoformat(),
                                "closes_at": now.replace(year=2027).isoformat()})
    assert r.status_code == 201 and r.json()["households_in_scope"] == 0
    mid = r.json()["id"]
    t = (await tally(client, staff, mid)).json()
    assert t["counts"]["total_households"] == 0 and t["outcome"] == "failed" and t["decided_early"] is True
    assert all(c["met"] is False and c["denominator"] == 0 for c in t["conditions"])
    r = await client.post(f"{API}/motions/{mid}/close", headers=staff)
    assert r.status_code == 200 and r.json()["tally"]["outcome"] == "failed"


async def test_staff_see_choices_only_where_the_profile_says_so(client, world, clock) -> None:
    now = clock.now()
    _, plan, m = await setup_motion(client, world, now)
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200
    r = await client.get(f"{API}/motions/{m['id']}/choices", headers=world.staff)
    assert r.status_code == 403 and r.json()["code"] == "ballot.choices_private"
    prof = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()["profile"]
    await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                     json=prof | {"staff_see_choices": True})
    # the open motion keeps its rules (choices stay private); a motion opened afterwards shows them
    clock.advance(seconds=1)
    assert (await client.get(f"{API}/motions/{m['id']}/choices", headers=world.staff)).status_code == 403
    m2 = await make_motion(client, world, plan["id"], clock.now())
    assert (await vote(client, world.residents[0].headers, m2["id"], "disagree")).status_code == 200
    r = await client.get(f"{API}/motions/{m2['id']}/choices", headers=world.staff, params={"limit": 200})
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 12
    by_room = {(i["building"], i["unit"], i["room"]): i for i in items}
    for key in (("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101")):  # OWNER-A
        assert by_room[key]["choice"] == "disagree"
    assert by_room[("1", "1", "101")]["own_ballot"] is True and by_room[("2", "1", "101")]["own_ballot"] is False
    assert by_room[("1", "1", "102")]["choice"] is None
    h = (await client.get(f"{API}/motions/{m2['id']}/ballots", headers=world.staff)).json()["items"]
    assert h[0]["choice"] == "disagree"
    assert (await client.get(f"{API}/motions/{m2['id']}/choices", headers=world.residents[0].headers)).status_code == 403


OWNER_POOL = ["K1", "K2", "K3", "K4", ""]


async def test_sql_tally_equals_the_reference_count(client, world, clock) -> None:
    """Random registers and ballots (with repeated and cross-household ballots of one owner): the SQL tally's
    counts equal app.rules.count_electorate on the same data."""
    rng = random.Random(20261123)
    cid = await create_community(client, world.admin, world.jurisdiction_id, "随机小区")
    _, token = await add_staff(client, world.admin, cid, "staff-random")
    staff = auth(token)
    rows = ["building,unit,room,area_m2,owner_key"]
    register = []
    for b in ("1", "2"):
        for u in ("1", "2"):
            for room in range(101, 101 + rng.randint(2, 5)):
                area = rng.randint(3000, 15000)
                owner = rng.choice(OWNER_POOL)
                rows.append(f"{b},{u},{room},{area // 100}.{area % 100:02d},{owner}")
                register.append((b, u, str(room), area, owner))
    assert (await import_csv(client, staff, cid, "\n".join(rows) + "\n")).status_code == 200
    hh = (await client.get(f"{API}/communities/{cid}/households", headers=staff, params={"limit": 200})).json()["items"]
    ids = {(h["building"], h["unit"], h["room"]): h["id"] for h in hh}
    owner_of = {}
    for b, u, room, _area, owner in register:
        owner_of[ids[(b, u, room)]] = owner or f"own:{ids[(b, u, room)]}"
    pid = (await client.post(f"{API}/communities/{cid}/projects", headers=staff, json={"title": "随机"})).json()["id"]
    plan = (await client.post(f"{API}/projects/{pid}/plans", headers=staff,
                              json={"title": "方案", "items": [{"title": "x", "budget_fen": 1}]})).json()
    now = clock.now()
    scopes = [{}, {"scope": "building", "building": "1"}, {"scope": "unit", "building": "2", "unit": "2"}]
    for scope in scopes:
        r = await client.post(f"{API}/plans/{plan['id']}/motions", headers=staff,
                              json={"title": "随机表决", "opens_at": now.isoformat(),
                                    "closes_at": now.replace(year=2027).isoformat()} | scope)
        assert r.status_code == 201, r.text
        mid = r.json()["id"]
        in_scope = [(b, u, room, area) for b, u, room, area, _ in register
                    if ("building" not in scope or b == scope["building"])
                    and ("unit" not in scope or u == scope["unit"])]
        voters = [Voter(ids[(b, u, room)], owner_of[ids[(b, u, room)]], area) for b, u, room, area in in_scope]
        cast: list[tuple[str, str]] = []
        for _ in range(rng.randint(len(voters) // 2, len(voters) + 4)):
            hid = rng.choice(voters).household_id
            choice = rng.choice(["agree", "disagree", "abstain"])
            w = {"photo": ("s.jpg", jpeg((len(cast) % 250, 9, 9)), "image/jpeg")}
            r = await client.post(f"{API}/motions/{mid}/paper-ballots", headers=staff,
                                  data={"household_id": hid, "choice": choice}, files=w)
            assert r.status_code == 201, r.text
            cast.append((hid, choice))
        # the reference: an owner's latest ballot is their one choice; count_electorate does the counting
        latest_of_owner = {owner_of[hid]: choice for hid, choice in cast}
        ballots = {hid: Choice(latest_of_owner[owner_of[hid]]) for hid, _ in cast}
        expected = count_electorate(voters, ballots)
        t = (await tally(client, staff, mid)).json()
        got = {k: t["counts"][k] for k in expected.to_dict()}
        assert got == expected.to_dict(), scope


async def test_activated_world_can_all_vote(client, world, clock) -> None:
    """Every household activated, each owner votes once: 10 owners, all agree → passed early while open."""
    _, _, m = await setup_motion(client, world, clock.now())
    owners = await activate_all(client, world)
    seen_owner_a = False
    for h in world.households:
        if h["room"] == "101" and (h["building"], h["unit"]) in {("1", "1"), ("1", "2"), ("2", "1")}:
            if seen_owner_a:
                continue
            seen_owner_a = True
        assert (await vote(client, owners[h["id"]], m["id"], "agree")).status_code == 200
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["counts"]["agree_owners"] == 10 and t["counts"]["agree_households"] == 12
    assert t["outcome"] == "passed" and t["decided_early"] is True and t["final"] is False


async def _running_and_full(app, motion_id: str) -> tuple[object, object]:
    """The running tally as stored (None when missing) and the full aggregate, read straight from the database."""
    from app.voting import repository as voting_repo
    from app.voting import service as voting_service

    async with app.state.db.read_session() as s:
        m = await voting_repo.get_motion(s, motion_id)
        running = await voting_repo.running_tally(s, m)
        full = await voting_service.full_counts(s, m=m)
        if running is not None:
            running = voting_service.counts_from_rows(rows=running, total=running[voting_repo.TOTAL])
        return running, full


async def test_running_tally_follows_ballots_and_register_imports(client, world, clock, app) -> None:
    """The running tally equals the full aggregate after every ballot (replacing, cross-household ballots of
    one owner). An import after opening — a new unit of an owner who voted, a new household — changes neither
    the denominators nor the numerators (the roll was frozen at opening); the new households cannot vote."""
    cid = await create_community(client, world.admin, world.jurisdiction_id, "运行计票小区")
    _, token = await add_staff(client, world.admin, cid, "staff-running")
    staff = auth(token)
    csv = "building,unit,room,area_m2,owner_key\n1,1,101,80.00,P\n1,1,102,70.00,P\n1,1,201,60.00,Q\n1,1,202,50.00,\n"
    assert (await import_csv(client, staff, cid, csv)).status_code == 200
    hh = (await client.get(f"{API}/communities/{cid}/households", headers=staff)).json()["items"]
    ids = {h["room"]: h["id"] for h in hh}
    pid = (await client.post(f"{API}/communities/{cid}/projects", headers=staff, json={"title": "运行"})).json()["id"]
    plan = (await client.post(f"{API}/projects/{pid}/plans", headers=staff,
                              json={"title": "方案", "items": [{"title": "x", "budget_fen": 1}]})).json()
    now = clock.now()
    r = await client.post(f"{API}/plans/{plan['id']}/motions", headers=staff,
                          json={"title": "表决", "opens_at": now.isoformat(),
                                "closes_at": now.replace(year=2027).isoformat()})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    running, full = await _running_and_full(app, mid)
    assert running == full and full.total_owners == 3 and full.total_households == 4

    async def ballot(room: str, choice: str, n: int) -> None:
        photo = {"photo": ("s.jpg", jpeg((n, 40, 40)), "image/jpeg")}
        r = await client.post(f"{API}/motions/{mid}/paper-ballots", headers=staff,
                              data={"household_id": ids[room], "choice": choice}, files=photo)
        assert r.status_code == 201, r.text

    steps = [("101", "agree"), ("201", "disagree"), ("102", "disagree"), ("102", "disagree"), ("201", "abstain"),
             ("101", "agree"), ("202", "agree")]
    for n, (room, choice) in enumerate(steps):
        await ballot(room, choice, n)
        running, full = await _running_and_full(app, mid)
        assert running == full, (n, room, choice)
    # owner P's latest is agree (101): both P units agree; Q abstains; 202 agrees
    t = (await tally(client, staff, mid)).json()["counts"]
    assert (t["agree_owners"], t["agree_households"], t["agree_area"]) == (2, 3, 20000)
    assert (t["abstain_owners"], t["disagree_owners"]) == (1, 0)

    # a new unit of owner P and a new household: the register changes, the open motion's roll does not
    r = await import_csv(client, staff, cid, "building,unit,room,area_m2,owner_key\n1,1,301,40.00,P\n1,1,302,30.00,\n")
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["open_rolls_unchanged"]] == [mid]
    running, full = await _running_and_full(app, mid)
    assert running == full
    assert (full.agree_owners, full.agree_households, full.agree_area) == (2, 3, 20000)
    assert (full.total_owners, full.total_households, full.total_area) == (3, 4, 26000)
    hh = (await client.get(f"{API}/communities/{cid}/households", headers=staff)).json()["items"]
    ids |= {h["room"]: h["id"] for h in hh}
    photo = {"photo": ("s.jpg", jpeg((99, 40, 40)), "image/jpeg")}
    r = await client.post(f"{API}/motions/{mid}/paper-ballots", headers=staff,
                          data={"household_id": ids["302"], "choice": "disagree"}, files=photo)
    assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope", r.text
    await ballot("201", "disagree", 50)
    running, full = await _running_and_full(app, mid)
    assert running == full and (full.disagree_owners, full.total_households) == (1, 4)
    r = await client.post(f"{API}/motions/{mid}/close", headers=staff)
    assert r.status_code == 200, r.text
    counts = r.json()["tally"]["counts"]
    assert (counts["agree_households"], counts["agree_area"], counts["total_households"]) == (3, 20000, 4)


async def test_running_tally_under_concurrent_ballots(client, world, clock, app) -> None:
    """Every household votes at once, twice over (OWNER-A's three households included, with different
    choices): the running tally still equals the full aggregate of the current ballots."""
    import asyncio

    _, _, m = await setup_motion(client, world, clock.now())
    owners = await activate_all(client, world)
    rng = random.Random(7)
    for _ in range(2):
        picks = {hid: rng.choice(["agree", "disagree", "abstain"]) for hid in owners}
        results = await asyncio.gather(*(vote(client, h, m["id"], picks[hid]) for hid, h in owners.items()))
        assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    running, full = await _running_and_full(app, m["id"])
    assert running == full
    assert full.participating_households == 12 and full.participating_owners == 10


async def test_a_missing_running_tally_is_rebuilt_by_the_next_changed_ballot(client, world, clock, app) -> None:
    """The running tally's rows are gone (a failed bulk load, an operator's hand): a ballot that keeps its
    owner's choice moves nothing and leaves them gone (reads fall back to the full count); the next ballot that
    changes a choice finds no bucket to move, and the ballot's own transaction rebuilds them from the roll and
    the current ballots, its own ballot included."""
    _, _, m = await setup_motion(client, world, clock.now())
    a, b = world.residents[0].headers, world.residents[1].headers
    assert (await vote(client, a, m["id"], "agree")).status_code == 200
    assert (await vote(client, b, m["id"], "disagree")).status_code == 200
    before, full = await _running_and_full(app, m["id"])
    assert before == full and full.agree_households >= 1 and full.disagree_households >= 1
    async with app.state.db.write_session() as s:
        gone = await s.exec(text("DELETE FROM motion_tally WHERE motion_id = :m").bindparams(m=m["id"]))
        assert gone.rowcount == 4  # the total and the three choices
        await s.commit()
    assert (await vote(client, a, m["id"], "agree")).status_code == 200  # unchanged: nothing to move
    running, full = await _running_and_full(app, m["id"])
    assert running is None and full == before
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert (t["agree_households"], t["disagree_households"]) == (before.agree_households, before.disagree_households)
    assert (await vote(client, b, m["id"], "abstain")).status_code == 200  # a move, with no bucket to move
    running, full = await _running_and_full(app, m["id"])
    assert running is not None and running == full
    assert (full.agree_households, full.disagree_households, full.abstain_households) == (
        before.agree_households, 0, before.disagree_households)
