"""Notices through HTTP: working-day windows (official calendar, 调休, partial days), derived status, listing."""

from __future__ import annotations

from datetime import date, datetime

from tests.projects.helpers import make_project, other_community, sh, travel


def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


async def publish(client, world, pid, **fields):
    body = {"kind": "plan", "title": "改造方案公示", "body": "方案全文见附件。"} | fields
    return await client.post(f"/api/v1/projects/{pid}/notices", headers=world.staff, json=body)


async def test_published_today_counts_from_tomorrow(client, world, clock) -> None:
    # Monday 2026-11-23 10:00 Shanghai: today is a partial day (Civil Code art. 201)
    p = await make_project(client, world)
    r = await publish(client, world, p["id"], start_date="2026-11-23")
    assert r.status_code == 201, r.text
    n = r.json()
    assert n["start_date"] == "2026-11-23"
    assert n["counting_starts"] == "2026-11-24" and n["partial_day_excluded"] is True
    assert n["working_days"] == 5 and n["end_date"] == "2026-11-30"  # Tue..Fri, Mon
    assert at(n["closes_at"]) == sh(2026, 12, 1)  # 24:00 of the end date, Shanghai
    assert at(n["opens_at"]) == clock.now()  # residents may read and object at once
    assert n["status"] == "open" and n["window_ended"] is False and n["provisional"] is False
    assert n["days_left"] == 5
    assert n["objections"] == {"total": 0, "pending": 0, "accepted": 0, "rejected": 0}


async def test_future_start_and_longer_window(client, world) -> None:
    p = await make_project(client, world)
    r = await publish(client, world, p["id"], start_date="2026-11-25", working_days=7)
    assert r.status_code == 201, r.text
    n = r.json()
    assert n["partial_day_excluded"] is False and n["counting_starts"] == "2026-11-25"
    assert n["end_date"] == "2026-12-03"  # 25 26 27 30 1 2 3
    assert n["status"] == "scheduled" and n["days_left"] == 7
    assert at(n["opens_at"]) == sh(2026, 11, 25)


async def test_bad_start_dates_and_windows(client, world) -> None:
    p = await make_project(client, world)
    r = await publish(client, world, p["id"], start_date="2026-11-22")
    assert r.status_code == 422 and r.json()["code"] == "notice.start_in_past"
    assert r.json()["errors"][0]["loc"] == ["body", "start_date"]
    r = await publish(client, world, p["id"], start_date="2026-11-24", working_days=4)
    assert r.status_code == 422 and r.json()["code"] == "notice.window_too_short" and r.json()["minimum"] == 5
    r = await publish(client, world, p["id"], start_date="2026-11-24", working_days=61)
    assert r.status_code == 422
    r = await publish(client, world, p["id"], start_date="9999-12-31")
    assert r.status_code == 422 and r.json()["code"] == "notice.start_too_far"
    r = await publish(client, world, p["id"], start_date="not-a-date")
    assert r.status_code == 422
    r = await publish(client, world, p["id"], start_date="2026-11-24", kind="gossip")
    assert r.status_code == 422
    r = await publish(client, world, p["id"], start_date="2026-11-24", body="")
    assert r.status_code == 422 and r.json()["code"] == "notice.body_required"
    r = await publish(client, world, p["id"], start_date="2026-11-24", title="x" * 201)
    assert r.status_code == 422
    # only staff publish
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.residents[0].headers,
                          json={"kind": "other", "title": "t", "body": "b", "start_date": "2026-11-24"})
    assert r.status_code == 403


async def test_start_date_is_a_shanghai_business_date(client, world, clock) -> None:
    p = await make_project(client, world)
    await travel(client, world, clock, sh(2026, 11, 24, 0, 30))  # 2026-11-23 16:30 UTC
    r = await publish(client, world, p["id"], start_date="2026-11-23")
    assert r.status_code == 422 and r.json()["code"] == "notice.start_in_past"
    r = await publish(client, world, p["id"], start_date="2026-11-24")
    assert r.status_code == 201 and r.json()["counting_starts"] == "2026-11-25"
    # published at exactly 00:00 the start day is a whole day: it counts
    await travel(client, world, clock, sh(2026, 11, 26))
    r = await publish(client, world, p["id"], start_date="2026-11-26")
    assert r.status_code == 201
    assert r.json()["counting_starts"] == "2026-11-26" and r.json()["partial_day_excluded"] is False
    assert r.json()["end_date"] == "2026-12-02"


async def publish_at(app, world, project_id: str, when: datetime, start: str, working_days: int | None = None):
    """Publish as the staff member at a past moment, through the service (an access token issued at a
    clock behind the wall clock is refused as expired by python-jose, whatever the injected clock says)."""
    from app.auth.policy import Principal
    from app.publicity import service
    from app.publicity.schemas import NoticeCreate

    staff = Principal(user_id=world.staff_user_id, name="社区工作人员", staff_of=frozenset({world.community_id}))
    body = NoticeCreate(kind="plan", title="方案公示", body="方案", start_date=date.fromisoformat(start),
                        working_days=working_days)
    async with app.state.db.write_session() as s:
        n = await service.create_notice(s, principal=staff, project_id=project_id, body=body, now=when)
        await s.commit()
    return n


async def test_window_across_spring_festival_2026(app, client, world) -> None:
    p = await make_project(client, world)
    # Thu 12, Fri 13, Sat 14 (调休 working day), holiday 15–23, Tue 24, Wed 25
    n = await publish_at(app, world, p["id"], sh(2026, 2, 10, 9), "2026-02-12")
    assert n.counting_starts == date(2026, 2, 12) and n.end_date == date(2026, 2, 25)
    assert n.closes_at == sh(2026, 2, 26) and n.provisional is False and n.working_days == 5
    # starting inside the holiday: holidays do not count, the first working day is Tue 24; Sat 28 works
    n = await publish_at(app, world, p["id"], sh(2026, 2, 10, 9), "2026-02-16")
    assert n.counting_starts == date(2026, 2, 16) and n.end_date == date(2026, 2, 28)
    assert n.status == "scheduled" and n.days_left == 5
    # published on Fri 13 during the day: 14 (Sat, working), 24, 25, 26, 27
    n = await publish_at(app, world, p["id"], sh(2026, 2, 13, 15), "2026-02-13")
    assert n.partial_day_excluded is True and n.counting_starts == date(2026, 2, 14)
    assert n.end_date == date(2026, 2, 27)
    r = await client.get("/api/v1/calendar/window", headers=world.residents[0].headers,
                         params={"start_date": "2026-02-12", "working_days": 5})
    assert r.status_code == 200
    assert r.json() == {"start_date": "2026-02-12", "counting_starts": "2026-02-12", "partial_day_excluded": False,
                        "end_date": "2026-02-25", "closes_at": "2026-02-26T00:00:00+08:00", "working_days": 5,
                        "provisional": False}
    assert at(r.json()["closes_at"]) == sh(2026, 2, 26)
    r = await client.get("/api/v1/calendar/window", headers=world.staff,
                         params={"start_date": "2026-02-09", "working_days": 10})
    assert r.json()["end_date"] == "2026-02-27"  # 9 10 11 12 13, Sat 14, 24 25 26 27


async def test_window_across_national_day_2026(app, client, world) -> None:
    p = await make_project(client, world)
    # Tue 29, Wed 30, holiday Oct 1–7, Thu 8, Fri 9, Sat 10 (调休 working day)
    n = await publish_at(app, world, p["id"], sh(2026, 9, 28, 9), "2026-09-29")
    assert n.end_date == date(2026, 10, 10) and n.closes_at == sh(2026, 10, 11)
    # Sun 11 is a rest day again: from Wed 30 the fifth working day is Mon 12
    n = await publish_at(app, world, p["id"], sh(2026, 9, 28, 9), "2026-09-30")
    assert n.end_date == date(2026, 10, 12)
    r = await client.get("/api/v1/calendar/window", headers=world.staff,
                         params={"start_date": "2026-09-29", "working_days": 5})
    assert r.json()["end_date"] == "2026-10-10" and at(r.json()["closes_at"]) == sh(2026, 10, 11)
    # Sun 20 Sep is a working day (调休) and Mid-Autumn 25–27 is not
    r = await client.get("/api/v1/calendar/window", headers=world.staff,
                         params={"start_date": "2026-09-20", "working_days": 5})
    assert r.json()["end_date"] == "2026-09-24"
    r = await client.get("/api/v1/calendar/window", headers=world.staff,
                         params={"start_date": "2026-09-23", "working_days": 5})
    assert r.json()["end_date"] == "2026-09-30"


async def test_calendar_window_beyond_the_official_calendar_is_provisional(client, world) -> None:
    r = await client.get("/api/v1/calendar/window", headers=world.staff,
                         params={"start_date": "2027-01-04", "working_days": 5})
    assert r.status_code == 200
    assert r.json()["end_date"] == "2027-01-08" and r.json()["provisional"] is True
    p = await make_project(client, world)
    r = await publish(client, world, p["id"], start_date="2027-03-01")
    assert r.status_code == 201 and r.json()["provisional"] is True and r.json()["end_date"] == "2027-03-05"
    # bad input
    assert (await client.get("/api/v1/calendar/window", params={"start_date": "2026-01-05", "working_days": 5})
            ).status_code == 401
    for params in ({"start_date": "2026-01-05", "working_days": 0}, {"start_date": "2026-01-05", "working_days": 61},
                   {"start_date": "2026-13-01", "working_days": 5}, {"start_date": "9999-12-30", "working_days": 5},
                   {"working_days": 5}):
        r = await client.get("/api/v1/calendar/window", headers=world.staff, params=params)
        assert r.status_code == 422, params


async def test_status_is_derived_from_the_clock(client, world, clock) -> None:
    p = await make_project(client, world)
    r = await publish(client, world, p["id"], start_date="2026-11-24")
    nid = r.json()["id"]

    async def view() -> dict:
        r = await client.get(f"/api/v1/notices/{nid}", headers=world.residents[0].headers)
        assert r.status_code == 200
        return r.json()

    assert (await view())["status"] == "scheduled"
    await travel(client, world, clock, sh(2026, 11, 24))
    n = await view()
    assert n["status"] == "open" and n["days_left"] == 5
    await travel(client, world, clock, sh(2026, 11, 26, 15))
    assert (await view())["days_left"] == 3  # Thu (today), Fri, Mon
    await travel(client, world, clock, sh(2026, 11, 28, 15))  # Saturday
    assert (await view())["days_left"] == 1
    await travel(client, world, clock, sh(2026, 11, 30, 23, 59, 59))
    n = await view()
    assert n["status"] == "open" and n["days_left"] == 1
    await travel(client, world, clock, sh(2026, 12, 1))
    n = await view()
    assert n["status"] == "passed" and n["window_ended"] is True and n["days_left"] == 0


async def test_community_listing_newest_first_with_status_filter(client, world, clock) -> None:
    p = await make_project(client, world)
    ids = []
    for i, start in enumerate(("2026-11-23", "2026-11-27", "2026-12-07")):
        r = await publish(client, world, p["id"], start_date=start, title=f"公示{i}", kind="other")
        assert r.status_code == 201
        ids.append(r.json()["id"])
        clock.advance(seconds=1)
    url = f"/api/v1/communities/{world.community_id}/notices"
    r = await client.get(url, headers=world.residents[2].headers)
    assert r.status_code == 200
    assert [n["id"] for n in r.json()["items"]] == ids[::-1]
    # cursor pagination
    r1 = await client.get(url, headers=world.staff, params={"limit": 2})
    assert [n["id"] for n in r1.json()["items"]] == [ids[2], ids[1]] and r1.json()["next_cursor"]
    r2 = await client.get(url, headers=world.staff, params={"limit": 2, "cursor": r1.json()["next_cursor"]})
    assert [n["id"] for n in r2.json()["items"]] == [ids[0]] and r2.json()["next_cursor"] is None
    r = await client.get(url, headers=world.staff, params={"cursor": "!!!"})
    assert r.status_code == 400
    # status filter, evaluated against the clock
    async def with_status(s: str) -> list[str]:
        r = await client.get(url, headers=world.staff, params={"status": s})
        assert r.status_code == 200
        return [n["id"] for n in r.json()["items"]]

    assert await with_status("open") == [ids[0]]
    assert sorted(await with_status("scheduled")) == sorted([ids[1], ids[2]])
    await travel(client, world, clock, sh(2026, 12, 1, 12))
    assert await with_status("passed") == [ids[0]]
    assert await with_status("open") == [ids[1]]
    assert await with_status("scheduled") == [ids[2]]
    assert await with_status("failed") == []
    r = await client.get(url, headers=world.staff, params={"status": "bogus"})
    assert r.status_code == 422


async def test_who_sees_notices(app, client, world) -> None:
    from app.auth import service as auth_service
    from app.auth.models import Role
    from tests.factories import auth, login

    p = await make_project(client, world)
    nid = (await publish(client, world, p["id"], start_date="2026-11-24")).json()["id"]
    other_cid, other_staff, other_resident = await other_community(client, world)
    for h in (other_staff, other_resident):
        assert (await client.get(f"/api/v1/notices/{nid}", headers=h)).status_code == 404
        r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=h)
        assert r.status_code == 404
        assert (await client.get(f"/api/v1/notices/{nid}/objections", headers=h)).status_code == 404
    r = await client.get(f"/api/v1/communities/{other_cid}/notices", headers=other_resident)
    assert r.status_code == 200 and r.json()["items"] == []
    assert (await client.get("/api/v1/notices/nope", headers=world.staff)).status_code == 404
    assert (await client.get(f"/api/v1/notices/{nid}")).status_code == 401
    # a supervisor appointed to a project of the community sees its notices but cannot object
    now = app.state.clock.now()
    async with app.state.db.write_session() as s:
        u = await auth_service.create_user(s, username="sup1", password="sup-pass-2026!", name="监督员", now=now)
        await auth_service.grant(s, user_id=u.id, role=Role.SUPERVISOR, scope_id=p["id"], now=now, by=None)
        await s.commit()
    sup = auth((await login(client, "sup1", "sup-pass-2026!"))["access_token"])
    p2 = await make_project(client, world, title="二期")
    nid2 = (await publish(client, world, p2["id"], start_date="2026-11-24")).json()["id"]
    r = await client.get(f"/api/v1/communities/{world.community_id}/notices", headers=sup)
    assert r.status_code == 200 and {n["id"] for n in r.json()["items"]} == {nid, nid2}
    assert (await client.get(f"/api/v1/notices/{nid2}", headers=sup)).status_code == 200
    r = await client.post(f"/api/v1/notices/{nid}/objections", headers=sup, json={"text": "有问题"})
    assert r.status_code == 403


async def test_supervisor_roster_notice_takes_the_roster(client, world) -> None:
    p = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{p['id']}/supervisors", headers=world.staff,
                          json={"name": "王监督", "phone": "13912345678", "source": "deputy"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                          json={"kind": "supervisor_roster", "title": "义务质量监督员名单公示",
                                "start_date": "2026-11-24"})
    assert r.status_code == 201, r.text
    body = r.json()["body"]
    assert "王监督" in body and "13912345678" not in body and "5678" in body
    # other kinds need a body (a funding notice is generated from the plan: none yet, 409; see tests/funding)
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                          json={"kind": "other", "title": "停水通知", "start_date": "2026-11-24"})
    assert r.status_code == 422 and r.json()["code"] == "notice.body_required"
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                          json={"kind": "funding", "title": "资金公示", "start_date": "2026-11-24"})
    assert r.status_code == 409 and r.json()["code"] == "funding.no_plan"
