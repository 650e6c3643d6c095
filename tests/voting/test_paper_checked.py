"""Paper first (issue 19): scanned slip codes, double entry by two clerks (pending, same clerk, match,
conflict, resolve, close refused and forced), an online ballot against a pending slip, proxies (photo
required, cap per proxy, shown to staff and in the evidence pack), and the races on PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile

from sqlalchemy import text

from app.core.security import slip_code
from tests.factories import add_staff, auth
from tests.voting.helpers import API, jpeg, make_motion, make_plan, make_project, setup_motion, tally, vote


async def enter(client, headers: dict, motion_id: str, choice: str, *, household_id: str | None = None,
                slip: str | None = None, photo: bytes | None = None, proxy: tuple[str, str] | None = None,
                proxy_photo: bytes | None = None, key: str | None = None):
    data = {"choice": choice}
    if household_id is not None:
        data["household_id"] = household_id
    if slip is not None:
        data["slip_code"] = slip
    if proxy is not None:
        data["proxy_name"], data["proxy_relation"] = proxy
    files = {"photo": ("slip.jpg", photo if photo is not None else jpeg(), "image/jpeg")}
    if proxy_photo is not None:
        files["proxy_photo"] = ("auth.jpg", proxy_photo, "image/jpeg")
    h = dict(headers) | ({"Idempotency-Key": key} if key else {})
    return await client.post(f"{API}/motions/{motion_id}/paper-ballots", headers=h, data=data, files=files)


async def set_profile(client, world, **changes) -> None:
    prof = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()["profile"]
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                         json=prof | changes)
    assert r.status_code == 200, r.text


async def clerks(client, world, n: int = 1) -> list[dict]:
    """Further staff of the community (the second and third clerks)."""
    out = []
    for i in range(n):
        _, token = await add_staff(client, world.admin, world.community_id, f"clerk{i + 2}")
        out.append(auth(token))
    return out


async def double_entry_motion(client, world, clock) -> dict:
    await set_profile(client, world, paper_double_entry=True)
    clock.advance(seconds=1)
    _, _, m = await setup_motion(client, world, clock.now())
    return m


async def slips(client, world, motion_id: str, status: str | None = None) -> list[dict]:
    params = {"status": status} if status else {}
    r = await client.get(f"{API}/motions/{motion_id}/paper-ballots", headers=world.staff, params=params)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def history(client, world, motion_id: str) -> list[dict]:
    r = await client.get(f"{API}/motions/{motion_id}/ballots", headers=world.staff)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def running_equals_full(app, motion_id: str) -> object:
    """The running tally equals the full count over the roll; returns the full count."""
    from app.voting import repository as voting_repo
    from app.voting import service as voting_service

    async with app.state.db.read_session() as s:
        m = await voting_repo.get_motion(s, motion_id)
        running = await voting_repo.running_tally(s, m)
        full = await voting_service.full_counts(s, m=m)
    assert running is not None
    assert voting_service.counts_from_rows(rows=running, total=running[voting_repo.TOTAL]) == full
    return full


async def db_rows(app, sql: str, **params) -> list:
    async with app.state.db.read_session() as s:
        return list((await s.exec(text(sql).bindparams(**params))).all())


# ---- slip codes -------------------------------------------------------------------------------------------

async def test_scanned_slip_code_names_the_household(client, world, clock, app, settings) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now())
    other = await make_motion(client, world, plan["id"], clock.now(), title="另一项表决")
    hid = world.household("2", "2", "201")["id"]
    code = slip_code(settings.secret_key, motion_id=m["id"], household_id=hid)
    r = await enter(client, world.staff, m["id"], "agree", slip=f"  {code.upper()}\n")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "counted" and r.json()["household_id"] == hid and r.json()["receipt"]
    assert (await tally(client, world.staff, m["id"])).json()["counts"]["agree_households"] == 1
    # another motion's slip, a changed character, garbage: refused, nothing recorded
    other_code = slip_code(settings.secret_key, motion_id=other["id"], household_id=hid)
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    for bad in (other_code, forged, "S1-nonsense"):
        r = await enter(client, world.staff, m["id"], "disagree", slip=bad)
        assert r.status_code == 422 and r.json()["code"] == "ballot.slip_invalid", (bad, r.text)
    # both given: they must agree
    h2 = world.household("2", "2", "102")["id"]
    r = await enter(client, world.staff, m["id"], "agree", slip=code, household_id=h2)
    assert r.status_code == 422 and r.json()["code"] == "ballot.slip_mismatch"
    r = await enter(client, world.staff, m["id"], "disagree", slip=code, household_id=hid)
    assert r.status_code == 201 and r.json()["version"] == 2
    # neither: 422 as before
    r = await enter(client, world.staff, m["id"], "agree")
    assert r.status_code == 422 and r.json()["code"] == "validation.failed"
    assert len(await history(client, world, m["id"])) == 2
    await running_equals_full(app, m["id"])


# ---- double entry ----------------------------------------------------------------------------------------

async def test_double_entry_pending_then_second_clerk_counts_once(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2, clerk3) = await clerks(client, world, 2)
    hid = world.household("2", "2", "201")["id"]
    r = await enter(client, world.staff, m["id"], "agree", household_id=hid)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "pending" and first["receipt"] is None and first["ballot_id"] is None
    # pending: not counted anywhere
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert t["agree_households"] == 0 and t["participating_households"] == 0
    assert await history(client, world, m["id"]) == []
    assert await db_rows(app, "SELECT * FROM current_ballot WHERE motion_id = :m", m=m["id"]) == []
    # but the household has voted: turnout counts it answered, neither lists it for a visit nor reminds it,
    # and a reprint of the non-responders' slips leaves it out
    progress = (await client.get(f"{API}/motions/{m['id']}/progress", headers=world.staff)).json()
    assert progress["households"]["answered"] == 1
    nr = (await client.get(f"{API}/motions/{m['id']}/non-responders", headers=world.staff)).json()
    listed = {h["household_id"] for b in nr["buildings"] for u in b["units"] for h in u["households"]}
    assert hid not in listed and nr["answered"] == 1 and nr["non_responders"] == nr["households_in_scope"] - 1
    r = await client.get(f"{API}/motions/{m['id']}/slips.pdf", headers=world.staff,
                         params={"non_responders_only": "true"})
    assert r.status_code == 200 and int(r.headers["X-Slip-Count"]) == nr["households_in_scope"] - 1
    r = await client.post(f"{API}/motions/{m['id']}/reminders", headers=world.staff)
    assert r.status_code == 202 and r.json()["non_responders"] == nr["non_responders"], r.text
    # the same clerk again: refused
    r = await enter(client, world.staff, m["id"], "agree", household_id=hid)
    assert r.status_code == 409 and r.json()["code"] == "ballot.same_clerk"
    listed = await slips(client, world, m["id"], "pending")
    assert [s["slip_id"] for s in listed] == [first["slip_id"]] and len(listed[0]["entries"]) == 1
    assert listed[0]["entries"][0]["choice"] is None  # staff do not see choices under this profile
    assert (await client.get(listed[0]["entries"][0]["photo_url"], headers=world.staff)).status_code == 200
    # a second, different clerk enters the same: counted once
    r = await enter(client, clerk2, m["id"], "agree", household_id=hid, photo=jpeg((10, 20, 30)))
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["status"] == "counted" and second["slip_id"] == first["slip_id"] and second["receipt"]
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert t["agree_households"] == 1 and t["participating_households"] == 1
    h = await history(client, world, m["id"])
    assert len(h) == 1 and h[0]["actor_id"] == world.staff_user_id and h[0]["checked_by"] is not None
    assert h[0]["checked_by"] != world.staff_user_id and h[0]["ballot_id"] == second["ballot_id"]
    assert await slips(client, world, m["id"], "pending") == []
    counted = await slips(client, world, m["id"], "counted")
    assert len(counted) == 1 and counted[0]["ballot_id"] == second["ballot_id"] and len(counted[0]["entries"]) == 2
    r = await client.get(f"{API}/ballot-receipts/{second['receipt']}")
    assert r.status_code == 200 and r.json()["counted"] is True
    # a further entry of the counted slip changes nothing
    r = await enter(client, clerk3, m["id"], "agree", household_id=hid)
    assert r.status_code == 409 and r.json()["code"] == "ballot.slip_already_counted"
    assert len(await history(client, world, m["id"])) == 1
    actions = [a for (a,) in await db_rows(app, "SELECT action FROM audit_entry WHERE entity_id = :s ORDER BY seq",
                                           s=first["slip_id"])]
    assert actions == ["paper_slip.entered", "paper_slip.entered", "paper_slip.counted"]
    await running_equals_full(app, m["id"])


async def test_conflict_is_listed_and_resolved_and_close_waits_for_it(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2, clerk3) = await clerks(client, world, 2)
    hid = world.household("2", "2", "102")["id"]
    assert (await enter(client, world.staff, m["id"], "agree", household_id=hid)).json()["status"] == "pending"
    r = await enter(client, clerk2, m["id"], "disagree", household_id=hid)
    assert r.status_code == 201 and r.json()["status"] == "conflict" and r.json()["receipt"] is None
    slip_id = r.json()["slip_id"]
    assert [s["slip_id"] for s in await slips(client, world, m["id"], "conflict")] == [slip_id]
    assert (await tally(client, world.staff, m["id"])).json()["counts"]["participating_households"] == 0
    r = await enter(client, clerk3, m["id"], "agree", household_id=hid)
    assert r.status_code == 409 and r.json()["code"] == "ballot.slip_conflict"
    # close refuses while the conflict stands
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "motion.paper_unsettled"
    assert r.json()["conflict"] == 1 and r.json()["pending"] == 0
    # resolved from the photo: the resolver's choice counts
    url = f"{API}/motions/{m['id']}/paper-ballots/{slip_id}/resolve"
    r = await client.post(url, headers=clerk3, json={"choice": "disagree"})
    assert r.status_code == 422
    r = await client.post(url, headers=clerk3, json={"choice": "disagree", "reason": "照片上勾选的是反对"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "counted" and r.json()["reason"] == "照片上勾选的是反对" and r.json()["ballot_id"]
    check = await client.get(f"{API}/ballot-receipts/{r.json()['receipt']}")
    assert check.status_code == 200 and check.json()["counted"] is True and check.json()["channel"] == "paper"
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert t["disagree_households"] == 1 and t["agree_households"] == 0
    r = await client.post(url, headers=clerk3, json={"choice": "agree", "reason": "again"})
    assert r.status_code == 409 and r.json()["code"] == "paper_slip.not_in_conflict"
    r = await client.post(f"{API}/motions/{m['id']}/paper-ballots/{'z' * 32}/resolve", headers=clerk3,
                          json={"choice": "agree", "reason": "x"})
    assert r.status_code == 404 and r.json()["code"] == "paper_slip.not_found"
    assert (await db_rows(app, "SELECT count(*) FROM audit_entry WHERE entity_id = :s AND action = "
                               "'paper_slip.resolved'", s=slip_id))[0][0] == 1
    await running_equals_full(app, m["id"])
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert r.status_code == 200 and r.json()["paper_uncounted"] is None
    assert r.json()["tally"]["counts"]["disagree_households"] == 1


async def test_close_refused_while_pending_then_forced_with_a_reason(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2,) = await clerks(client, world, 1)
    h1, h2 = world.household("2", "2", "201")["id"], world.household("2", "2", "102")["id"]
    assert (await enter(client, world.staff, m["id"], "agree", household_id=h1)).json()["status"] == "pending"
    assert (await enter(client, world.staff, m["id"], "agree", household_id=h2)).json()["status"] == "pending"
    assert (await enter(client, clerk2, m["id"], "agree", household_id=h2)).json()["status"] == "counted"
    close = f"{API}/motions/{m['id']}/close"
    r = await client.post(close, headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "motion.paper_unsettled"
    assert (r.json()["pending"], r.json()["conflict"]) == (1, 0)
    r = await client.post(close, headers=world.staff, json={"force": True})
    assert r.status_code == 422 and r.json()["code"] == "motion.force_reason_required"
    r = await client.post(close, headers=world.staff, json={"force": True, "reason": "第二名录入员因病缺席"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["paper_uncounted"]["pending"] == 1 and len(body["paper_uncounted"]["slip_ids"]) == 1
    assert body["tally"]["counts"]["agree_households"] == 1  # only the checked slip counts
    left = await slips(client, world, m["id"], "uncounted")
    assert [s["household_id"] for s in left] == [h1] and left[0]["reason"] == "第二名录入员因病缺席"
    actions = {a for (a,) in await db_rows(app, "SELECT action FROM audit_entry WHERE entity_id = :m", m=m["id"])}
    assert {"motion.close_forced", "motion.paper_uncounted", "motion.closed"} <= actions
    # after close nothing more is entered
    r = await enter(client, clerk2, m["id"], "agree", household_id=h1)
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed"
    # the evidence pack: the checked slip with both clerks, and the forced close in the audit; it verifies
    r = await client.get(f"{API}/motions/{m['id']}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    (row,) = list(csv.DictReader(io.StringIO(z.read("participation.csv").decode("utf-8-sig"))))
    assert row["household_id"] == h2 and row["entered_by"] == world.staff_user_id and row["checked_by"]
    assert b"motion.close_forced" in z.read("audit.jsonl")
    from app.voting.evidence import verify_pack

    verdict = verify_pack(r.content)
    assert verdict.ok, verdict.message


async def test_a_roll_removal_leaves_the_households_open_slip_uncounted(client, world, clock, app) -> None:
    """A household taken off the roll can no longer vote: its slip pending or in conflict is settled as
    uncounted (audited with the amendment), and it no longer holds up a close."""
    m = await double_entry_motion(client, world, clock)
    (clerk2,) = await clerks(client, world, 1)
    hid = world.household("2", "2", "201")["id"]
    first = (await enter(client, world.staff, m["id"], "agree", household_id=hid)).json()
    assert first["status"] == "pending"
    r = await client.post(f"{API}/motions/{m['id']}/roll/amendments", headers=world.staff,
                          json={"household_id": hid, "action": "remove", "reason": "房屋已合并"})
    assert r.status_code in (200, 201), r.text
    assert await slips(client, world, m["id"], "pending") == []
    [gone] = await slips(client, world, m["id"], "uncounted")
    assert gone["slip_id"] == first["slip_id"] and gone["ballot_id"] is None
    r = await enter(client, clerk2, m["id"], "agree", household_id=hid)
    assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope", r.text
    actions = [a for (a,) in await db_rows(app, "SELECT action FROM audit_entry WHERE entity_id = :s ORDER BY seq",
                                           s=first["slip_id"])]
    assert actions == ["paper_slip.entered", "paper_slip.uncounted"]
    await running_equals_full(app, m["id"])
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert r.status_code == 200 and r.json()["paper_uncounted"] is None, r.text
    assert r.json()["tally"]["counts"]["participating_households"] == 0


async def test_the_deadline_leaves_unsettled_slips_uncounted(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    hid = world.household("2", "2", "201")["id"]
    assert (await enter(client, world.staff, m["id"], "agree", household_id=hid)).json()["status"] == "pending"
    clock.advance(days=8)
    from tests.voting.helpers import relogin

    await relogin(client, world)
    t = (await tally(client, world.staff, m["id"])).json()  # the first look after the deadline stores the result
    assert t["final"] is True and t["counts"]["participating_households"] == 0
    (s,) = await slips(client, world, m["id"])
    assert s["status"] == "uncounted" and s["reason"] == "deadline"


async def test_online_ballot_supersedes_a_pending_slip(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2,) = await clerks(client, world, 1)
    me = world.residents[0]  # the owner of three households (OWNER-A)
    r = await enter(client, world.staff, m["id"], "agree", household_id=me.household_id)
    assert r.json()["status"] == "pending"
    slip_id = r.json()["slip_id"]
    r = await vote(client, me.headers, m["id"], "disagree")
    assert r.status_code == 200 and r.json()["version"] == 1
    (s,) = await slips(client, world, m["id"])
    assert s["status"] == "superseded" and s["ballot_id"] == r.json()["ballot_id"]
    # the second clerk's entry of that slip does not count; nothing blocks the close
    r = await enter(client, clerk2, m["id"], "agree", household_id=me.household_id)
    assert r.status_code == 409 and r.json()["code"] == "ballot.slip_superseded" and r.json()["slip_id"] == slip_id
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert t["disagree_owners"] == 1 and t["disagree_households"] == 3 and t["agree_owners"] == 0
    await running_equals_full(app, m["id"])
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200


# ---- proxies ---------------------------------------------------------------------------------------------

async def test_proxies_need_an_authorisation_and_are_capped(client, world, clock, app) -> None:
    await set_profile(client, world, proxy_max_households=2, staff_see_choices=True)
    clock.advance(seconds=1)
    _, _, m = await setup_motion(client, world, clock.now())
    h = [world.household("2", "2", r)["id"] for r in ("201", "102")] + [world.household("2", "1", "201")["id"]]
    proxy = ("张 三", "子女")
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[0], proxy=proxy)
    assert r.status_code == 422 and r.json()["code"] == "ballot.proxy_photo_required"
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[0], proxy=("张三", ""),
                    proxy_photo=jpeg((1, 2, 3)))
    assert r.status_code == 422 and r.json()["code"] == "ballot.proxy_relation_required"
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[0], proxy_photo=jpeg((1, 2, 3)))
    assert r.status_code == 422 and r.json()["code"] == "ballot.proxy_name_required"
    assert await history(client, world, m["id"]) == []
    authorisation = jpeg((90, 10, 10))
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[0], proxy=proxy, proxy_photo=authorisation)
    assert r.status_code == 201 and r.json()["proxy_name"] == "张 三", r.text
    r = await enter(client, world.staff, m["id"], "disagree", household_id=h[1], proxy=("张三", "邻居"),
                    proxy_photo=jpeg((80, 10, 10)))
    assert r.status_code == 201, r.text
    # the same person written with a full-width space: the third household is over the cap
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[2], proxy=("张\u3000三", "朋友"),
                    proxy_photo=jpeg((70, 10, 10)))
    assert r.status_code == 422 and r.json()["code"] == "ballot.proxy_limit" and r.json()["limit"] == 2
    # a household the proxy already votes for may be entered again; another proxy is fine
    r = await enter(client, world.staff, m["id"], "disagree", household_id=h[0], proxy=proxy,
                    proxy_photo=authorisation)
    assert r.status_code == 201, r.text
    r = await enter(client, world.staff, m["id"], "agree", household_id=h[2], proxy=("李四", "配偶"),
                    proxy_photo=jpeg((60, 10, 10)))
    assert r.status_code == 201, r.text
    hist = await history(client, world, m["id"])
    assert [x["proxy_name"] for x in hist] == ["张 三", "张三", "张 三", "李四"]
    assert hist[1]["proxy_relation"] == "邻居" and hist[0]["authorisation_url"]
    got = await client.get(hist[0]["authorisation_url"], headers=world.staff)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert (await client.get(hist[0]["authorisation_url"], headers=world.residents[0].headers)).status_code == 403
    choices = (await client.get(f"{API}/motions/{m['id']}/choices", headers=world.staff)).json()["items"]
    by_id = {c["household_id"]: c for c in choices}
    assert by_id[h[1]]["proxy_name"] == "张三" and by_id[h[1]]["proxy_relation"] == "邻居"
    assert by_id[world.residents[0].household_id]["proxy_name"] is None
    await running_equals_full(app, m["id"])
    # the evidence pack lists the proxies and carries their authorisations, checked against the audit
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    r = await client.get(f"{API}/motions/{m['id']}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    rows = list(csv.DictReader(io.StringIO(z.read("participation.csv").decode("utf-8-sig"))))
    proxied = {row["household_id"]: row for row in rows if row["proxy_name"]}
    assert set(proxied) == {h[0], h[1], h[2]} and proxied[h[2]]["proxy_name"] == "李四"
    assert proxied[h[0]]["authorisation"] in z.namelist()
    from app.voting.evidence import verify_pack

    verdict = verify_pack(r.content)
    assert verdict.ok, verdict.message


async def test_double_entry_with_a_proxy(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2, clerk3) = await clerks(client, world, 2)
    hid = world.household("2", "2", "201")["id"]
    r = await enter(client, world.staff, m["id"], "agree", household_id=hid, proxy=("王五", "子女"),
                    proxy_photo=jpeg((5, 5, 5)))
    assert r.json()["status"] == "pending"
    (s,) = await slips(client, world, m["id"], "pending")
    auth_url = s["entries"][0]["authorisation_url"]
    assert (await client.get(auth_url, headers=world.staff)).status_code == 200
    # the second clerk names another proxy: a conflict, resolved with the first entry's proxy
    r = await enter(client, clerk2, m["id"], "agree", household_id=hid, proxy=("王六", "子女"),
                    proxy_photo=jpeg((6, 6, 6)))
    assert r.json()["status"] == "conflict"
    r = await client.post(f"{API}/motions/{m['id']}/paper-ballots/{s['slip_id']}/resolve", headers=clerk3,
                          json={"choice": "agree", "reason": "委托书上是王五", "proxy_from": "first"})
    assert r.status_code == 200, r.text
    (b,) = await history(client, world, m["id"])
    assert b["proxy_name"] == "王五" and b["authorisation_url"]
    assert (await client.get(b["authorisation_url"], headers=world.staff)).status_code == 200


# ---- races (truly concurrent transactions on PostgreSQL) --------------------------------------------------

async def test_two_second_entries_at_once_count_once(client, world, clock, app) -> None:
    m = await double_entry_motion(client, world, clock)
    (clerk2, clerk3) = await clerks(client, world, 2)
    hid = world.household("2", "2", "201")["id"]
    assert (await enter(client, world.staff, m["id"], "agree", household_id=hid)).json()["status"] == "pending"
    r2, r3 = await asyncio.gather(enter(client, clerk2, m["id"], "agree", household_id=hid),
                                  enter(client, clerk3, m["id"], "agree", household_id=hid))
    assert sorted([r2.status_code, r3.status_code]) == [201, 409], (r2.text, r3.text)
    loser = r2 if r2.status_code == 409 else r3
    assert loser.json()["code"] == "ballot.slip_already_counted"
    assert len(await history(client, world, m["id"])) == 1
    assert (await tally(client, world.staff, m["id"])).json()["counts"]["agree_households"] == 1
    assert len(await db_rows(app, "SELECT * FROM current_ballot WHERE motion_id = :m", m=m["id"])) == 1
    await running_equals_full(app, m["id"])


async def test_pending_slip_racing_an_online_ballot(client, world, clock, app) -> None:
    """Two rounds, the requests started in both orders: whichever transaction takes the motion's lock first,
    the household ends with one current ballot — the online one — and the running tally equals the count."""
    m = await double_entry_motion(client, world, clock)
    (clerk2,) = await clerks(client, world, 1)
    outcomes = set()
    for me, paper_first in ((world.residents[1], True), (world.residents[2], False)):
        r = await enter(client, world.staff, m["id"], "agree", household_id=me.household_id)
        assert r.status_code == 201 and r.json()["status"] == "pending"
        slip_id = r.json()["slip_id"]
        calls = [enter(client, clerk2, m["id"], "agree", household_id=me.household_id),
                 vote(client, me.headers, m["id"], "disagree")]
        paper_r, online_r = await asyncio.gather(*(calls if paper_first else calls[::-1]))
        if not paper_first:
            paper_r, online_r = online_r, paper_r
        assert online_r.status_code == 200, online_r.text
        (s,) = [x for x in await slips(client, world, m["id"]) if x["slip_id"] == slip_id]
        if paper_r.status_code == 201:  # the slip counted first; the later online ballot replaced it
            assert paper_r.json()["status"] == "counted" and s["status"] == "counted"
            assert online_r.json()["version"] == 2
        else:  # the online ballot came first and superseded the slip
            assert paper_r.status_code == 409 and paper_r.json()["code"] == "ballot.slip_superseded"
            assert s["status"] == "superseded" and online_r.json()["version"] == 1
        outcomes.add(s["status"])
        rows = await db_rows(app, "SELECT channel, choice FROM current_ballot WHERE motion_id = :m AND "
                                  "household_id = :h", m=m["id"], h=me.household_id)
        assert [tuple(r) for r in rows] == [("online", "disagree")]
        await running_equals_full(app, m["id"])
    t = (await tally(client, world.staff, m["id"])).json()["counts"]
    assert t["disagree_households"] == 2 and t["agree_households"] == 0
    assert outcomes <= {"counted", "superseded"}
