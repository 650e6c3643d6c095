"""Objections through HTTP: filing while open (server clock), resolutions, what residents see, failed notices."""

from __future__ import annotations

from tests.projects.helpers import make_project, other_community, sh, travel


async def notice(client, world, start="2026-11-24", kind="plan") -> dict:
    p = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                          json={"kind": kind, "title": "改造方案公示", "body": "方案全文", "start_date": start})
    assert r.status_code == 201, r.text
    return r.json()


async def object_(client, resident_headers, nid, text="加装电梯位置不合理", **extra):
    return await client.post(f"/api/v1/notices/{nid}/objections", headers=resident_headers,
                             json={"text": text} | extra)


async def resolve(client, headers, oid, decision="rejected", reason="经核实，方案符合规范"):
    return await client.post(f"/api/v1/objections/{oid}/resolution", headers=headers,
                             json={"decision": decision, "reason": reason})


async def test_objection_window_by_server_clock(client, world, clock) -> None:
    n = await notice(client, world)  # window 2026-11-24 00:00 .. 2026-12-01 00:00 (Shanghai)
    a = world.residents[0]
    r = await object_(client, a.headers, n["id"])
    assert r.status_code == 409 and r.json()["code"] == "objection.window_not_open"
    await travel(client, world, clock, sh(2026, 11, 30, 23, 59, 59))  # one second before close
    r = await object_(client, a.headers, n["id"])
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "pending" and r.json()["mine"] is True
    assert r.json()["household_id"] == a.household_id and r.json()["room"] == "101"
    await travel(client, world, clock, sh(2026, 12, 1))  # exactly 24:00 of the end date
    r = await object_(client, a.headers, n["id"])
    assert r.status_code == 409 and r.json()["code"] == "objection.window_closed"
    await travel(client, world, clock, sh(2026, 12, 1, 0, 0, 1))  # one second after close
    r = await object_(client, a.headers, n["id"])
    assert r.status_code == 409 and r.json()["code"] == "objection.window_closed"
    assert "2026-11-30" in r.json()["detail"]


async def test_who_may_object(client, world) -> None:
    n = await notice(client, world, start="2026-11-23")
    r = await object_(client, world.staff, n["id"])
    assert r.status_code == 403
    _, other_staff, other_resident = await other_community(client, world)
    assert (await object_(client, other_resident, n["id"])).status_code == 404
    assert (await object_(client, world.residents[0].headers, "nope")).status_code == 404
    # a household that is not the resident's
    r = await object_(client, world.residents[0].headers, n["id"], household_id=world.residents[1].household_id)
    assert r.status_code == 404
    # bad input
    for body in ({"text": ""}, {"text": "x" * 2001}, {"text": "ok", "extra": 1}, {}):
        r = await client.post(f"/api/v1/notices/{n['id']}/objections", headers=world.residents[0].headers, json=body)
        assert r.status_code == 422, body


async def test_idempotency_key_replays_the_first_objection(client, world) -> None:
    n = await notice(client, world, start="2026-11-23")
    h = world.residents[0].headers | {"Idempotency-Key": "obj-1"}
    r1 = await client.post(f"/api/v1/notices/{n['id']}/objections", headers=h, json={"text": "噪音扰民"})
    r2 = await client.post(f"/api/v1/notices/{n['id']}/objections", headers=h, json={"text": "噪音扰民"})
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] == r2.json()["id"] and r2.headers.get("Idempotent-Replayed") == "true"
    r3 = await client.post(f"/api/v1/notices/{n['id']}/objections", headers=h, json={"text": "别的"})
    assert r3.status_code == 409 and r3.json()["code"] == "idempotency.key_reused"
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.staff)
    assert r.json()["objections"]["total"] == 1


async def test_resolve_once_and_what_residents_see(client, world, clock) -> None:
    n = await notice(client, world, start="2026-11-23")
    a, b = world.residents[0], world.residents[1]
    oa = (await object_(client, a.headers, n["id"], text="甲的异议")).json()
    clock.advance(seconds=1)
    ob = (await object_(client, b.headers, n["id"], text="乙的异议")).json()
    # residents cannot resolve
    assert (await resolve(client, a.headers, oa["id"])).status_code == 403
    r = await resolve(client, world.staff, oa["id"], decision="maybe")
    assert r.status_code == 422
    r = await resolve(client, world.staff, oa["id"], reason="")
    assert r.status_code == 422
    r = await resolve(client, world.staff, oa["id"])
    assert r.status_code == 200
    assert r.json()["status"] == "rejected" and r.json()["decision"] == "rejected"
    assert r.json()["reason"] == "经核实，方案符合规范" and r.json()["resolved_at"]
    r = await resolve(client, world.staff, oa["id"], decision="accepted", reason="改主意")
    assert r.status_code == 409 and r.json()["code"] == "objection.already_resolved"
    assert r.json()["decision"] == "rejected"
    assert (await resolve(client, world.staff, "nope")).status_code == 404
    _, other_staff, _ = await other_community(client, world)
    assert (await resolve(client, other_staff, ob["id"])).status_code == 404

    url = f"/api/v1/notices/{n['id']}/objections"
    staff_view = (await client.get(url, headers=world.staff)).json()["items"]
    assert [o["text"] for o in staff_view] == ["甲的异议", "乙的异议"]
    assert staff_view[0]["filed_by_name"] == "居民1" and staff_view[1]["room"] == "102"
    # B sees A's resolved objection with its resolution, but not who filed it; and B's own pending one
    b_view = (await client.get(url, headers=b.headers)).json()["items"]
    assert [(o["text"], o["mine"]) for o in b_view] == [("甲的异议", False), ("乙的异议", True)]
    assert b_view[0]["reason"] == "经核实，方案符合规范" and b_view[0]["filed_by_name"] is None
    assert b_view[0]["room"] is None and b_view[0]["household_id"] is None
    # A does not see B's pending objection
    a_view = (await client.get(url, headers=a.headers)).json()["items"]
    assert [o["text"] for o in a_view] == ["甲的异议"]
    # a third resident sees only the resolved one
    c_view = (await client.get(url, headers=world.residents[2].headers)).json()["items"]
    assert [o["text"] for o in c_view] == ["甲的异议"]
    # counts on the notice
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=a.headers)
    assert r.json()["objections"] == {"total": 2, "pending": 1, "accepted": 0, "rejected": 1}
    # pagination of the staff view
    r = await client.get(url, headers=world.staff, params={"limit": 1})
    assert len(r.json()["items"]) == 1 and r.json()["next_cursor"]
    r = await client.get(url, headers=world.staff, params={"limit": 1, "cursor": r.json()["next_cursor"]})
    assert [o["text"] for o in r.json()["items"]] == ["乙的异议"] and r.json()["next_cursor"] is None


async def test_accepted_objection_fails_the_notice_mid_window(client, world, clock) -> None:
    n = await notice(client, world, start="2026-11-23")
    o = (await object_(client, world.residents[0].headers, n["id"])).json()
    r = await resolve(client, world.staff, o["id"], decision="accepted", reason="采纳：调整电梯位置")
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.residents[1].headers)
    assert r.json()["status"] == "failed" and r.json()["window_ended"] is False and r.json()["days_left"] == 0
    r = await object_(client, world.residents[1].headers, n["id"])
    assert r.status_code == 409 and r.json()["code"] == "objection.notice_failed"
    await travel(client, world, clock, sh(2026, 12, 5))  # stays failed after the window
    r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=world.staff,
                         params={"status": "failed"})
    assert [x["id"] for x in r.json()["items"]] == [n["id"]]
    r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=world.staff,
                         params={"status": "passed"})
    assert r.json()["items"] == []


async def test_pending_objection_holds_the_notice_open_after_the_window(client, world, clock) -> None:
    n = await notice(client, world, start="2026-11-23")
    o = (await object_(client, world.residents[0].headers, n["id"])).json()
    await travel(client, world, clock, sh(2026, 12, 2, 9))
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.staff)
    assert r.json()["status"] == "open" and r.json()["window_ended"] is True and r.json()["days_left"] == 0
    lst = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=world.staff,
                           params={"status": "open"})
    assert [x["id"] for x in lst.json()["items"]] == [n["id"]]
    r = await object_(client, world.residents[1].headers, n["id"])
    assert r.status_code == 409 and r.json()["code"] == "objection.window_closed"
    # answering the objection after the window is allowed; rejected → the notice passes
    assert (await resolve(client, world.staff, o["id"])).status_code == 200
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.staff)
    assert r.json()["status"] == "passed"


async def test_objections_are_audited(app, client, world) -> None:
    from sqlmodel import select

    from app.core import audit
    from app.core.models import AuditEntry

    n = await notice(client, world, start="2026-11-23")
    o = (await object_(client, world.residents[0].headers, n["id"])).json()
    await resolve(client, world.staff, o["id"], decision="accepted", reason="采纳")
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.chain == world.community_id)
                             .order_by(AuditEntry.seq))).all()
        actions = [r.action for r in rows]
        assert actions[-4:] == ["notice.published", "objection.filed", "objection.resolved", "notice.failed"]
        assert rows[-2].data["decision"] == "accepted" and rows[-2].data["reason"] == "采纳"
        assert all(rep.ok for rep in await audit.verify(s, world.community_id))


async def test_two_staff_resolving_at_once(client, world) -> None:
    import asyncio

    from tests.factories import add_staff

    _, staff2 = await add_staff(client, world.admin, world.community_id, "staff2")
    n = await notice(client, world, start="2026-11-23")
    o = (await object_(client, world.residents[0].headers, n["id"])).json()
    r1, r2 = await asyncio.gather(
        resolve(client, world.staff, o["id"], decision="rejected", reason="甲"),
        resolve(client, {"Authorization": f"Bearer {staff2}"}, o["id"], decision="accepted", reason="乙"),
    )
    assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
    loser = r1 if r1.status_code == 409 else r2
    winner = r2 if loser is r1 else r1
    assert loser.json()["code"] == "objection.already_resolved"
    assert loser.json()["decision"] == winner.json()["decision"]
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.staff)
    counts = r.json()["objections"]
    assert counts["pending"] == 0 and counts["accepted"] + counts["rejected"] == 1


async def test_the_first_page_reads_as_every_other_page(client, world, clock) -> None:
    """The community list's first page (the read after every push) is sent by the driver, up to 50 notices;
    a longer first page goes through SQLAlchemy: both give the same notices, objection counts and statuses."""
    n1 = await notice(client, world, start="2026-11-24")
    clock.advance(seconds=1)
    n2 = await notice(client, world, start="2026-11-24", kind="other")
    await travel(client, world, clock, sh(2026, 11, 26, 10))
    filed = []
    for headers, nid in ((world.residents[0].headers, n1["id"]), (world.residents[1].headers, n1["id"]),
                         (world.residents[2].headers, n2["id"])):
        r = await object_(client, headers, nid)
        assert r.status_code == 201, r.text
        filed.append(r.json()["id"])
    assert (await resolve(client, world.staff, filed[1])).status_code == 200
    url = f"/api/v1/communities/{world.community_id}/notices"
    hot = await client.get(url, headers=world.residents[3].headers, params={"limit": 50})
    plain = await client.get(url, headers=world.residents[3].headers, params={"limit": 51})
    assert hot.status_code == plain.status_code == 200, (hot.text, plain.text)
    assert hot.json() == plain.json()
    by_id = {n["id"]: n for n in hot.json()["items"]}
    assert by_id[n1["id"]]["objections"] == {"total": 2, "pending": 1, "accepted": 0, "rejected": 1}
    assert by_id[n2["id"]]["objections"] == {"total": 1, "pending": 1, "accepted": 0, "rejected": 0}
    assert by_id[n1["id"]]["status"] == "open" and isinstance(by_id[n1["id"]]["partial_day_excluded"], bool)
    assert isinstance(by_id[n1["id"]]["provisional"], bool) and by_id[n1["id"]]["closes_at"].endswith("+08:00")
