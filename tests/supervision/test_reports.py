"""Quality reports through HTTP with real photos: filing, the lifecycle by role, visibility, filters."""

from __future__ import annotations

import io

from PIL import Image
from sqlmodel import select

from app.core.models import AuditEntry
from tests.factories import STAFF_PASSWORD
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import (
    appoint,
    counts,
    create_project,
    file_report,
    photo_files,
    project_with_people,
    relogin,
)


async def act(client, report_id: str, headers: dict, action: str, **body):
    return await client.post(f"/api/v1/reports/{report_id}/transitions", headers=headers,
                             json={"action": action, **body})


async def test_full_lifecycle_with_real_photos(client, world, app, clock) -> None:
    p = await project_with_people(client, world)
    two = (phone_jpeg(80, 60, color=(200, 0, 0)), phone_jpeg(60, 80, orientation=1, color=(0, 200, 0)))
    r = await file_report(client, p.id, p.supervisor, *two, building="1", unit="2", gps_lat="36.104170",
                          gps_lon="120.468300", severity="critical")
    assert r.status_code == 201, r.text
    report = r.json()
    rid = report["id"]
    assert report["status"] == "submitted" and report["building"] == "1" and report["unit"] == "2"
    assert report["photo_count"] == 2 and len(report["photos"]) == 2
    assert report["actions"] == []  # a supervisor cannot acknowledge

    # staff see GPS of every photo; the served bytes carry none
    staff_view = (await client.get(f"/api/v1/reports/{rid}", headers=world.staff)).json()
    assert [ph["gps_lat"] for ph in staff_view["photos"]] == ["36.104167", "36.104167"]
    assert set(staff_view["actions"]) == {"acknowledge", "dismiss"}
    for ph in staff_view["photos"]:
        got = await client.get(ph["url"], headers=world.staff)
        assert got.status_code == 200
        assert not Image.open(io.BytesIO(got.content)).getexif().get_ifd(0x8825)

    # a resident, and a supervisor of another project, cannot see it or its photos
    resident = world.residents[0].headers
    photo_url = report["photos"][0]["url"]
    assert (await client.get(photo_url, headers=resident)).status_code == 404
    assert (await client.get(report["photos"][0]["thumbnail_url"], headers=resident)).status_code == 404
    other = await create_project(client, world, title="另一个项目")
    _, other_sup = await appoint(client, world, other, "supervisors", "othersup")
    assert (await client.get(f"/api/v1/reports/{rid}", headers=other_sup)).status_code == 404
    assert (await client.get(photo_url, headers=other_sup)).status_code == 404
    assert (await client.get(f"/api/v1/projects/{p.id}/reports", headers=other_sup)).status_code == 404
    assert (await act(client, rid, other_sup, "verify")).status_code == 404

    # the contractor does not see it before it is assigned to them
    assert (await client.get(f"/api/v1/reports/{rid}", headers=p.contractor)).status_code == 404
    assert (await client.get(photo_url, headers=p.contractor)).status_code == 404

    r = await act(client, rid, world.staff, "acknowledge", note="已收到")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    # assigning needs a contractor of the project and a due date not in the past, no later than the profile's
    # 3 working days for a critical report (Tue 24 … Thu 26 Nov) unless a reason is given
    r = await act(client, rid, world.staff, "assign", assignee_id=p.supervisor_id, due_date="2026-11-30")
    assert r.status_code == 422 and r.json()["code"] == "report.assignee_not_contractor"
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-11-22")
    assert r.status_code == 422 and r.json()["code"] == "report.due_date_past"
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-12-03")
    assert r.status_code == 422 and r.json()["code"] == "report.deadline_reason_required"
    assert r.json()["standard_due_date"] == "2026-11-26" and r.json()["working_days"] == 3
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-11-25")
    assert r.status_code == 200 and r.json()["status"] == "rectifying"
    assert r.json()["due_date"] == "2026-11-25" and r.json()["overdue"] is False
    assert r.json()["deadline_working_days"] == 3 and r.json()["events"][-1]["data"]["extended"] is False

    # now the contractor sees it (without GPS) and may rectify, not verify
    cview = await client.get(f"/api/v1/reports/{rid}", headers=p.contractor)
    assert cview.status_code == 200 and cview.json()["actions"] == ["rectify"]
    assert "gps_lat" not in cview.json()["photos"][0]
    assert (await client.get(photo_url, headers=p.contractor)).status_code == 200
    r = await act(client, rid, p.contractor, "rectify")
    assert r.status_code == 422 and r.json()["code"] == "report.photo_ids_required"
    # only the assignee uploads after-photos
    r = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.supervisor, files=photo_files(phone_jpeg()))
    assert r.status_code == 403
    r = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.contractor,
                          files=photo_files(phone_jpeg(color=(0, 0, 250))))
    assert r.status_code == 201, r.text
    after_id = r.json()[0]["id"]
    r = await act(client, rid, p.contractor, "rectify", photo_ids=[report["photos"][0]["id"]])
    assert r.status_code == 422 and r.json()["code"] == "report.unknown_photo"
    r = await act(client, rid, p.contractor, "rectify", photo_ids=[after_id], note="已重新铺设保温层")
    assert r.status_code == 200 and r.json()["status"] == "rectified"
    assert [ph["id"] for ph in r.json()["after_photos"]] == [after_id]

    # the contractor cannot verify their own work, even when also appointed supervisor
    r = await act(client, rid, p.contractor, "verify")
    assert r.status_code == 403
    r = await client.post(f"/api/v1/projects/{p.id}/supervisors", headers=world.staff,
                          json={"user_id": p.contractor_id, "source": "resident"})
    assert r.status_code == 201
    from tests.factories import auth, login
    from tests.supervision.helpers import PASSWORD

    both = auth((await login(client, "con", PASSWORD))["access_token"])
    r = await act(client, rid, both, "verify")
    assert r.status_code == 403 and r.json()["code"] == "report.own_work"
    # staff cannot verify either (a supervisor's job); a wrong state is 409 with the allowed actions
    assert (await act(client, rid, world.staff, "verify")).status_code == 403
    r = await act(client, rid, world.staff, "close")
    assert r.status_code == 409 and r.json()["code"] == "report.invalid_transition"
    assert r.json()["allowed_actions"] == ["verify", "reject"]

    r = await act(client, rid, p.supervisor, "verify", note="复核合格")
    assert r.status_code == 200 and r.json()["status"] == "verified"
    r = await act(client, rid, world.staff, "close")
    assert r.status_code == 200 and r.json()["status"] == "closed"
    final = (await client.get(f"/api/v1/reports/{rid}", headers=world.staff)).json()
    assert [e["action"] for e in final["events"]] == ["submit", "acknowledge", "assign", "rectify", "verify", "close"]
    assert final["events"][3]["actor_id"] == p.contractor_id
    assert final["events"][4]["actor_name"] == "supervisors-sup"
    assert final["after_photos"][0]["gps_lat"] == "36.104167"

    async with app.state.db.read_session() as s:
        actions = (await s.exec(select(AuditEntry.action).where(AuditEntry.entity_id == rid))).all()
    assert set(actions) >= {"report.filed", "report.acknowledge", "report.assign", "report.rectify",
                            "report.verify", "report.close", "report.photos_added"}

    # closed can be reopened (by a supervisor) back to rectifying with the same contractor
    r = await act(client, rid, p.supervisor, "reopen", note="又渗水了", due_date="2026-12-10")
    assert r.status_code == 422 and r.json()["code"] == "report.deadline_reason_required"
    r = await act(client, rid, p.supervisor, "reopen", note="又渗水了", due_date="2026-12-10", reason="需等待晴天施工")
    assert r.status_code == 200 and r.json()["status"] == "rectifying" and r.json()["due_date"] == "2026-12-10"
    assert r.json()["reopen_count"] == 1 and r.json()["flagged"] is False
    reopen = r.json()["events"][-1]["data"]
    assert reopen["extended"] is True and reopen["extension_reason"] == "需等待晴天施工"
    assert reopen["standard_due_date"] == "2026-11-26"
    assert (await act(client, rid, p.contractor, "reopen")).status_code == 409


async def test_wrong_actions_and_roles(client, world) -> None:
    p = await project_with_people(client, world)
    rid = (await file_report(client, p.id, p.supervisor, phone_jpeg())).json()["id"]
    r = await act(client, rid, world.staff, "verify")
    assert r.status_code == 409 and set(r.json()["allowed_actions"]) == {"acknowledge", "dismiss"}
    assert (await act(client, rid, p.supervisor, "acknowledge")).status_code == 403
    assert (await act(client, rid, world.residents[0].headers, "acknowledge")).status_code == 403
    assert (await act(client, rid, world.staff, "fly")).status_code == 422
    r = await act(client, rid, world.staff, "dismiss")
    assert r.status_code == 422 and r.json()["code"] == "report.reason_required"
    r = await act(client, rid, world.staff, "dismiss", reason="非本项目施工范围")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert r.json()["dismiss_reason"] == "非本项目施工范围"
    r = await act(client, rid, world.staff, "reopen")
    assert r.status_code == 409 and r.json()["allowed_actions"] == []
    assert (await act(client, "nope", world.staff, "acknowledge")).status_code == 404


async def test_ten_photos_refused_nothing_stored(client, world, app) -> None:
    p = await project_with_people(client, world)
    before = await counts(app)
    r = await file_report(client, p.id, p.supervisor, *[phone_jpeg(color=(i * 20, 0, 0)) for i in range(10)])
    assert r.status_code == 422 and r.json()["code"] == "report.too_many_photos"
    r = await client.post(f"/api/v1/projects/{p.id}/reports", headers=p.supervisor,
                          data={"catalog_item": "x", "severity": "minor", "description": "d"})
    assert r.status_code == 422
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), severity="disaster")
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "severity"]
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), description="x" * 2001)
    assert r.status_code == 422
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), building="99")
    assert r.status_code == 422 and r.json()["code"] == "report.unknown_building"
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), gps_lat="91.0", gps_lon="120.1")
    assert r.status_code == 422
    assert await counts(app) == before
    r = await file_report(client, p.id, p.supervisor, *[phone_jpeg(color=(i * 20, 0, 0)) for i in range(9)])
    assert r.status_code == 201 and r.json()["photo_count"] == 9
    assert await counts(app) == (before[0] + 9, before[1] + 1)


async def test_idempotency_key(client, world, app) -> None:
    p = await project_with_people(client, world)
    h = p.supervisor | {"Idempotency-Key": "report-1"}
    r1 = await file_report(client, p.id, h, phone_jpeg())
    r2 = await file_report(client, p.id, h, phone_jpeg())
    assert r1.status_code == r2.status_code == 201
    assert r1.json()["id"] == r2.json()["id"] and r2.headers.get("idempotent-replayed") == "true"
    assert (await counts(app))[1] == 1
    r3 = await file_report(client, p.id, h, phone_jpeg(color=(1, 2, 3)))  # other photo, same key
    assert r3.status_code == 409 and r3.json()["code"] == "idempotency.key_reused"


async def test_overdue_and_filters(client, world, clock) -> None:
    p = await project_with_people(client, world)
    ids = []
    for sev, building in (("minor", "1"), ("critical", "2"), ("major", "1")):
        r = await file_report(client, p.id, p.supervisor, phone_jpeg(), severity=sev, building=building)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for rid, due in ((ids[0], "2026-11-25"), (ids[1], "2026-12-31")):
        assert (await act(client, rid, world.staff, "acknowledge")).status_code == 200
        r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date=due,
                      reason="材料需定制")
        assert r.status_code == 200
    url = f"/api/v1/projects/{p.id}/reports"
    tokens = {"staff": world.staff}

    async def listed(headers=None, **params) -> list[str]:
        headers = headers or tokens["staff"]
        r = await client.get(url, headers=headers, params=params)
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert await listed(overdue="true") == []
    # 2026-11-25 is still fine on the due date itself (Shanghai), overdue the day after
    clock.set(clock.now().replace(day=25, hour=15))  # 23:00 Shanghai on the 25th
    tokens["staff"] = await relogin(client, "staff1", STAFF_PASSWORD)
    assert await listed(overdue="true") == []
    clock.advance(hours=2)  # 01:00 Shanghai on the 26th
    tokens["staff"] = staff = await relogin(client, "staff1", STAFF_PASSWORD)
    contractor = await relogin(client, "con")
    assert await listed(overdue="true") == [ids[0]]
    assert set(await listed(overdue="false")) == {ids[1], ids[2]}
    detail = (await client.get(f"/api/v1/reports/{ids[0]}", headers=staff)).json()
    assert detail["overdue"] is True
    assert await listed(severity="critical") == [ids[1]]
    assert await listed(status="submitted") == [ids[2]]
    b1 = detail["building_id"]
    assert set(await listed(building_id=b1)) == {ids[0], ids[2]}
    # pagination, newest first
    r = await client.get(url, headers=staff, params={"limit": 2})
    page1 = r.json()
    assert [i["id"] for i in page1["items"]] == [ids[2], ids[1]] and page1["next_cursor"]
    r = await client.get(url, headers=staff, params={"limit": 2, "cursor": page1["next_cursor"]})
    assert [i["id"] for i in r.json()["items"]] == [ids[0]] and r.json()["next_cursor"] is None
    assert r.json()["items"][0]["thumbnail_url"].endswith("/thumbnail")
    # a contractor lists only what is assigned to them; a rectified report is no longer overdue
    assert set(await listed(headers=contractor)) == {ids[0], ids[1]}
    up = await client.post(f"/api/v1/reports/{ids[0]}/photos", headers=contractor, files=photo_files(phone_jpeg()))
    r = await act(client, ids[0], contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert r.status_code == 200 and r.json()["overdue"] is False
    assert await listed(overdue="true") == []
    assert (await client.get(url, headers=staff, params={"status": "nonsense"})).status_code == 422
