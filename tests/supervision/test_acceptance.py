"""Roster, acceptance with representatives' signatures, the residents' warranty window, and the gates."""

from __future__ import annotations

from app.supervision import service as supervision_service
from tests.factories import STAFF_PASSWORD
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import (
    appoint,
    create_project,
    file_report,
    photo_files,
    project_with_people,
    relogin,
    token_for,
)


async def test_roster_masks_phones_except_for_staff(client, world, app) -> None:
    pid = await create_project(client, world)
    r = await client.post(f"/api/v1/projects/{pid}/supervisors", headers=world.staff,
                          json={"name": "王代表", "phone": "13987654321", "source": "deputy"})
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "13987654321" and r.json()["can_sign_in"] is False
    # an existing user (a resident) becomes a supervisor and gets the role at once
    resident = world.residents[1]
    r = await client.post(f"/api/v1/projects/{pid}/supervisors", headers=world.staff,
                          json={"user_id": resident.user_id, "source": "resident"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/projects/{pid}/supervisors", headers=world.staff,
                          json={"user_id": resident.user_id, "source": "resident"})
    assert r.status_code == 409
    me = (await client.get("/api/v1/me", headers=resident.headers)).json()
    assert {"role": "supervisor", "scope_id": pid} in me["roles"]
    # residents may not appoint; bad bodies are 422
    r = await client.post(f"/api/v1/projects/{pid}/supervisors", headers=world.residents[0].headers,
                          json={"name": "x", "phone": "13900000000", "source": "deputy"})
    assert r.status_code == 403
    for bad in ({"name": "x", "source": "deputy"}, {"name": "x", "phone": "139", "source": "deputy"},
                {"name": "x", "phone": "13900000000", "source": "king"},
                {"name": "x", "phone": "13900000000", "source": "deputy", "username": "abc"}):
        assert (await client.post(f"/api/v1/projects/{pid}/supervisors", headers=world.staff, json=bad)).status_code == 422
    staff_view = (await client.get(f"/api/v1/projects/{pid}/supervisors", headers=world.staff)).json()
    # the phone staff typed in, in full; the resident's own (from their account) masked even for staff
    assert [s["phone"] for s in staff_view] == ["13987654321", "138****0001"]
    public = (await client.get(f"/api/v1/projects/{pid}/supervisors", headers=world.residents[0].headers)).json()
    assert [s["phone"] for s in public] == ["139****4321", "138****0001"]
    assert public[0]["source"] == "deputy" and public[0]["can_sign_in"] is None
    async with app.state.db.read_session() as s:
        text = await supervision_service.roster_text(s, project_id=pid)
    assert "王代表" in text and "139****4321" in text and "13987654321" not in text
    # contractors
    r = await client.post(f"/api/v1/projects/{pid}/contractors", headers=world.staff,
                          json={"name": "李工", "phone": "13700000000", "organization": "青岛建工",
                                "username": "li-gong", "password": "weak"})
    assert r.status_code == 422  # weak password
    _, ch = await appoint(client, world, pid, "contractors", "li-gong", organization="青岛建工")
    listed = (await client.get(f"/api/v1/projects/{pid}/contractors", headers=ch)).json()
    assert listed[0]["organization"] == "青岛建工" and listed[0]["phone"] == "139****5678"


async def test_resident_files_only_during_warranty(client, world, clock, app) -> None:
    p = await project_with_people(client, world)
    resident = world.residents[0]
    r = await file_report(client, p.id, resident.headers, phone_jpeg())
    assert r.status_code == 403 and r.json()["code"] == "report.not_in_warranty"
    hh = [h["id"] for h in world.households[:3]]
    r = await client.post(f"/api/v1/projects/{p.id}/acceptance", headers=world.staff, json={
        "remarks": "工程质量合格", "satisfaction_survey": False,
        "representatives": [{"name": "张三", "household_id": hh[0]}, {"name": "李四", "household_id": hh[1]},
                            {"name": "王五", "household_id": hh[2]}]})
    assert r.status_code == 201, r.text
    acc = r.json()
    assert acc["signed"] == 3 and acc["required"] == 3 and acc["complete"] is True
    assert acc["warranty_months"] == 24 and acc["warranty_until"] == "2028-11-22"
    r = await file_report(client, p.id, resident.headers, phone_jpeg(), catalog_item="屋面防水",
                          description="顶楼漏水")
    assert r.status_code == 201, r.text
    own = r.json()
    assert own["filed_as"] == "resident"
    # the resident sees their own report and its photo, but not others' reports
    assert (await client.get(f"/api/v1/reports/{own['id']}", headers=resident.headers)).status_code == 200
    assert (await client.get(own["photos"][0]["url"], headers=resident.headers)).status_code == 200
    other = world.residents[1].headers
    assert (await client.get(own["photos"][0]["url"], headers=other)).status_code == 404
    sup_report = (await file_report(client, p.id, p.supervisor, phone_jpeg())).json()
    listed = (await client.get(f"/api/v1/projects/{p.id}/reports", headers=resident.headers)).json()["items"]
    assert [i["id"] for i in listed] == [own["id"]]
    assert (await client.get(sup_report["photos"][0]["url"], headers=resident.headers)).status_code == 404
    # a resident cannot act on reports
    r = await client.post(f"/api/v1/reports/{own['id']}/transitions", headers=resident.headers,
                          json={"action": "dismiss", "reason": "x"})
    assert r.status_code == 403
    # the last day of the warranty is in, the day after is out (Shanghai dates)
    clock.set(clock.now().replace(year=2028, month=11, day=22, hour=15))  # 23:00 on 2028-11-22
    fresh = await token_for(app, resident.user_id)
    assert (await file_report(client, p.id, fresh, phone_jpeg())).status_code == 201
    clock.advance(hours=2)
    fresh = await token_for(app, resident.user_id)
    r = await file_report(client, p.id, fresh, phone_jpeg())
    assert r.status_code == 403 and r.json()["code"] == "report.not_in_warranty"


async def test_acceptance_record_signatures_photos_and_gate(client, world, app) -> None:
    p = await project_with_people(client, world)
    url = f"/api/v1/projects/{p.id}/acceptance"

    async def gate():
        async with app.state.db.read_session() as s:
            return await supervision_service.acceptance_gate(s, project_id=p.id)

    g = await gate()
    assert g.name == "acceptance_signed" and g.met is False and g.figures["signed"] == 0
    assert (await client.get(url, headers=world.staff)).status_code == 404
    hh = [h["id"] for h in world.households]
    # bad representatives: a household of another community, a duplicate, a future signature
    bad = [{"name": "甲", "household_id": "x" * 32}, {"name": "乙", "household_id": hh[0]},
           {"name": "丙", "household_id": hh[0]}, {"name": "丁", "signed_at": "2030-01-01T00:00:00+08:00"}]
    r = await client.post(url, headers=world.staff, json={"representatives": bad})
    assert r.status_code == 422 and r.json()["code"] == "acceptance.invalid_representatives"
    assert {tuple(e["loc"][2:]) for e in r.json()["errors"]} == {(0, "household_id"), (2, "household_id"),
                                                                   (3, "signed_at")}
    assert (await client.post(url, headers=p.supervisor, json={})).status_code == 403
    assert (await client.post(url, headers=world.staff, json={"accepted_at": "2030-01-01T00:00:00+08:00"})).status_code == 422
    r = await client.post(url, headers=world.staff, json={
        "remarks": "验收合格", "accepted_at": "2026-11-20T15:00:00+08:00", "satisfaction_survey": False,
        "representatives": [{"name": "张三", "household_id": hh[0], "signed_at": "2026-11-20T15:30:00+08:00"},
                            {"name": "李四"}]})
    assert r.status_code == 201, r.text
    assert r.json()["signed"] == 2 and r.json()["complete"] is False
    assert (await client.post(url, headers=world.staff, json={})).status_code == 409
    g = await gate()
    assert g.met is False and g.figures == {"signed": 2, "required": 3, "recorded": True}
    r = await client.post(url + "/signatures", headers=world.staff,
                          json={"representatives": [{"name": "王五", "household_id": hh[0]}]})
    assert r.status_code == 422  # that household already signed
    r = await client.post(url + "/signatures", headers=world.staff,
                          json={"representatives": [{"name": "王五", "household_id": hh[5]}]})
    assert r.status_code == 200 and r.json()["signed"] == 3 and r.json()["complete"] is True
    assert (await gate()).met is True
    # the project carries accepted_at; the warranty starts on the acceptance date
    async with app.state.db.read_session() as s:
        from app.projects.models import Project

        proj = await s.get(Project, p.id)
        assert proj.accepted_at.isoformat() == "2026-11-20T07:00:00+00:00"
    # photos: staff upload, report viewers see them, residents see the record without them (names masked)
    r = await client.post(url + "/photos", headers=world.staff, files=photo_files(phone_jpeg()))
    assert r.status_code == 200, r.text
    photo = r.json()["photos"][0]
    assert photo["gps_lat"] == "36.104167"
    assert (await client.get(photo["url"], headers=p.supervisor)).status_code == 200
    resident_view = (await client.get(url, headers=world.residents[0].headers)).json()
    assert resident_view["photos"] == [] and resident_view["representatives"][0]["name"] == "张*"
    assert resident_view["representatives"][0]["household_id"] is None
    assert (await client.get(photo["url"], headers=world.residents[0].headers)).status_code == 404


async def test_critical_reports_gate(client, world, app) -> None:
    p = await project_with_people(client, world)

    async def gate():
        async with app.state.db.read_session() as s:
            return await supervision_service.critical_reports_gate(s, project_id=p.id)

    assert (await gate()).met is True
    minor = (await file_report(client, p.id, p.supervisor, phone_jpeg(), severity="major")).json()["id"]
    assert (await gate()).met is True and minor
    crit = (await file_report(client, p.id, p.supervisor, phone_jpeg(), severity="critical")).json()["id"]
    g = await gate()
    assert g.met is False and g.figures == {"open_critical": 1, "report_ids": [crit]}
    # the project's own view shows the gate through the projects domain
    r = await client.get(f"/api/v1/projects/{p.id}", headers=world.staff)
    gates = {gt["name"]: gt for sg in r.json()["stage_gates"] for gt in sg["gates"]}
    assert gates["no_open_critical_reports"]["met"] is False
    assert gates["acceptance_signed"]["met"] is False

    async def act(h, action, **body):
        r = await client.post(f"/api/v1/reports/{crit}/transitions", headers=h, json={"action": action, **body})
        assert r.status_code == 200, r.text

    await act(world.staff, "acknowledge")
    await act(world.staff, "assign", assignee_id=p.contractor_id)
    up = await client.post(f"/api/v1/reports/{crit}/photos", headers=p.contractor, files=photo_files(phone_jpeg()))
    await act(p.contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert (await gate()).met is False  # rectified is not yet checked
    await act(p.supervisor, "verify")
    assert (await gate()).met is True
    await act(p.supervisor, "reopen")
    assert (await gate()).met is False
    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    r = await client.get(f"/api/v1/projects/{p.id}", headers=staff)
    assert r.status_code == 200


async def test_acceptance_creates_satisfaction_questionnaire(client, world) -> None:
    p = await project_with_people(client, world)
    hh = [h["id"] for h in world.households[:3]]
    r = await client.post(f"/api/v1/projects/{p.id}/acceptance", headers=world.staff, json={
        "remarks": "合格", "representatives": [{"name": n, "household_id": h} for n, h in zip("甲乙丙", hh, strict=True)]})
    assert r.status_code == 201, r.text
    qid = r.json()["questionnaire_id"]
    assert qid
    q = await client.get(f"/api/v1/questionnaires/{qid}", headers=world.staff)
    assert q.status_code == 200, q.text
    body = q.json()
    assert body["kind"] == "satisfaction" and body["status"] == "draft"
    types = [x["type"] for x in body["questions"]]
    assert types == ["rating", "rating", "rating", "rating", "text"]
    # staff open it; residents answer through the surveys domain
    r = await client.post(f"/api/v1/questionnaires/{qid}/open", headers=world.staff, json={})
    assert r.status_code == 200, r.text
    answers = [{"question_id": x["id"], "value": 5} for x in body["questions"] if x["type"] == "rating"]
    r = await client.put(f"/api/v1/questionnaires/{qid}/response", headers=world.residents[0].headers,
                         json={"answers": answers})
    assert r.status_code == 200, r.text


async def test_catalog_item_by_seq(client, world) -> None:
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), catalog_item="2")
    assert r.status_code == 201, r.text
    assert r.json()["catalog_seq"] == 2 and r.json()["title"] == "道路铺装"  # Qingdao catalog (Laoshan)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), catalog_item="999")
    assert r.status_code == 422 and r.json()["code"] == "report.unknown_catalog_item"
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), catalog_item="楼道灯不亮")
    assert r.status_code == 201 and r.json()["catalog_seq"] is None and r.json()["title"] == "楼道灯不亮"


async def test_roster_published_as_notice(client, world) -> None:
    p = await project_with_people(client, world)
    r = await client.post(f"/api/v1/projects/{p.id}/notices", headers=world.staff,
                          json={"kind": "supervisor_roster", "title": "义务监督员名单公示", "start_date": "2026-11-23"})
    assert r.status_code == 201, r.text
    body = r.json()["body"]
    assert "supervisors-sup" in body and "139****5678" in body and "13912345678" not in body
