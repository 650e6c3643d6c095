"""The street office that escalations and flags reach: granted over HTTP by a global admin (or by the command
line), the global admins when a jurisdiction has none (the alert records who was told), and community staff
seeing the jurisdiction's views for their own communities only.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import select

from app.core.models import AuditEntry
from app.rules import SHANGHAI
from app.supervision.models import Alert
from tests.factories import ADMIN_PASSWORD, STAFF_PASSWORD, add_staff, build_world, create_community, login
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import (
    PASSWORD,
    act,
    bind_openid,
    deadline_round,
    file_report,
    photo_files,
    project_with_people,
    relogin,
    report_messages,
    token_for,
)

API = "/api/v1"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def _assigned(client, staff: dict, p, **fields) -> str:
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), **({"severity": "critical"} | fields))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await act(client, rid, staff, "acknowledge")).status_code == 200
    r = await act(client, rid, staff, "assign", assignee_id=p.contractor_id)
    assert r.status_code == 200, r.text
    return rid


async def _alerts(app, rid: str) -> list[tuple[str, int, str | None, list[str] | None, int]]:
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(Alert).where(Alert.report_id == rid).order_by(Alert.created_at, Alert.id))).all()
    return [(a.kind, a.period, a.audience, a.notified, a.recipients) for a in rows]


async def _admin_id(client) -> tuple[str, dict]:
    tokens = await login(client, "admin", ADMIN_PASSWORD)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get(f"{API}/me", headers=headers)).json()
    return me["user"]["id"], headers


async def test_grant_a_street_office_over_http(app, client, clock) -> None:
    clock.set(sh(2026, 9, 28, 10, 0))
    world = await build_world(app, client)
    jid = world.jurisdiction_id
    url = f"{API}/jurisdictions/{jid}/admins"
    body = {"username": "street1", "password": PASSWORD, "name": "街道办王主任"}

    # global admins only: community staff are not related to the jurisdiction (404); 422 without an account
    assert (await client.post(url, headers=world.staff, json=body)).status_code == 404
    assert (await client.post(f"{API}/jurisdictions/nope/admins", headers=world.admin, json=body)).status_code == 404
    r = await client.post(url, headers=world.admin, json={"username": "street1"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body"]
    r = await client.post(url, headers=world.admin, json={"user_id": "nobody"})
    assert r.status_code == 404 and r.json()["code"] == "user.not_found"
    r = await client.post(url, headers=world.admin, json=body | {"password": "short"})
    assert r.status_code == 422 and r.json()["code"] == "auth.weak_password"

    r = await client.post(url, headers=world.admin, json=body)
    assert r.status_code == 201, r.text
    office_id = r.json()["user_id"]
    assert r.json() | {"user_id": None} == {"user_id": None, "username": "street1", "role": "admin", "scope_id": jid}
    assert (await client.post(url, headers=world.admin, json=body)).status_code == 409  # username taken
    # an existing account: the grant is idempotent
    r = await client.post(url, headers=world.admin, json={"user_id": office_id})
    assert r.status_code == 201 and r.json()["user_id"] == office_id
    async with app.state.db.read_session() as s:
        audited = (await s.exec(select(AuditEntry).where(AuditEntry.action == "jurisdiction.admin_granted")
                                .order_by(AuditEntry.seq))).all()
    assert [(e.entity_id, e.data["jurisdiction_id"], e.chain) for e in audited] == [(office_id, jid, "system")] * 2

    # the street office: its jurisdiction's views, nothing global, and it may not grant admins itself
    office = await relogin(client, "street1")
    me = (await client.get(f"{API}/me", headers=office)).json()
    assert {"role": "admin", "scope_id": jid} in me["roles"]
    assert (await client.get(f"{API}/jurisdictions/{jid}", headers=office)).status_code == 200
    assert (await client.get(f"{API}/jurisdictions/{jid}/overdue-reports", headers=office)).status_code == 200
    assert (await client.post(url, headers=office, json={"user_id": world.staff_user_id})).status_code == 403
    r = await client.post(f"{API}/jurisdictions", headers=office, json={"name": "别的区", "preset": "laoshan"})
    assert r.status_code == 403

    # and its escalations reach it: the alert records who was told
    await bind_openid(app, office_id, "wx-street1")
    p = await project_with_people(client, world)
    rid = await _assigned(client, world.staff, p)
    clock.set(sh(2026, 10, 9, 10, 0))
    run = await deadline_round(app)
    assert (run.escalations, run.messages) == (1, 1)  # the contractor has no WeChat: told in the app only
    assert await _alerts(app, rid) == [("escalation", 1, "street_office", [office_id, p.contractor_id], 2)]
    rows = [m for m in await report_messages(app) if m.payload["kind"] == "escalation"]
    assert [(m.user_id, m.recipient) for m in rows] == [(office_id, "wx-street1")]


async def test_without_a_street_office_the_global_admins_are_told(app, client, clock) -> None:
    clock.set(sh(2026, 9, 28, 10, 0))
    world = await build_world(app, client)
    admin_id, _ = await _admin_id(client)
    await bind_openid(app, admin_id, "wx-admin")
    p = await project_with_people(client, world)
    rid = await _assigned(client, world.staff, p)

    # a flag: reopened twice (the profile's reopen_flag_at) with no admin of the jurisdiction
    for note in ("保温层仍有空鼓", "仍未修好"):
        up = await client.post(f"{API}/reports/{rid}/photos", headers=p.contractor, files=photo_files(phone_jpeg()))
        assert up.status_code == 201, up.text
        assert (await act(client, rid, p.contractor, "rectify", photo_ids=[up.json()[0]["id"]])).status_code == 200
        r = await act(client, rid, p.supervisor, "reject", note=note)
        assert r.status_code == 200, r.text
    assert r.json()["flagged"] is True
    flags = [m for m in await report_messages(app) if m.payload["kind"] == "flag"]
    assert [(m.user_id, m.recipient) for m in flags] == [(admin_id, "wx-admin")]
    async with app.state.db.read_session() as s:
        [entry] = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == rid,
                                                         AuditEntry.action == "report.flagged"))).all()
    assert (entry.data["audience"], entry.data["notified"]) == ("global_admins", [admin_id])

    # an escalation likewise (the new deadline after the second reject: Oct 8 → escalated on Oct 9)
    clock.set(sh(2026, 10, 9, 10, 0))
    assert (await deadline_round(app)).escalations == 1
    assert await _alerts(app, rid) == [
        ("flag", 2, "global_admins", [admin_id], 1),
        ("escalation", 3, "global_admins", [admin_id, p.contractor_id], 2)]

    # once the jurisdiction has its street office, it is told instead of the global admins
    admin = await relogin(client, "admin", ADMIN_PASSWORD)
    r = await client.post(f"{API}/jurisdictions/{world.jurisdiction_id}/admins", headers=admin,
                          json={"username": "street2", "password": PASSWORD, "name": "街道办"})
    assert r.status_code == 201, r.text
    office_id = r.json()["user_id"]
    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    r = await act(client, rid, staff, "assign", assignee_id=p.contractor_id, due_date="2026-10-10")
    assert r.status_code == 200, r.text
    clock.set(sh(2026, 10, 12, 10, 0))
    assert (await deadline_round(app)).escalations == 1
    assert (await _alerts(app, rid))[-1] == ("escalation", 4, "street_office", [office_id, p.contractor_id], 2)


async def test_community_staff_see_their_part_of_the_jurisdiction(app, client, clock) -> None:
    clock.set(sh(2026, 9, 28, 10, 0))
    world = await build_world(app, client)
    jid = world.jurisdiction_id
    pa = await project_with_people(client, world)
    cid_b = await create_community(client, world.admin, jid, "和平里小区")
    staff_b_id, _ = await add_staff(client, world.admin, cid_b, "staffb")
    staff_b = await relogin(client, "staffb", STAFF_PASSWORD)
    r = await client.post(f"{API}/communities/{cid_b}/projects", headers=staff_b, json={"title": "和平里整治"})
    assert r.status_code == 201, r.text
    pid_b = r.json()["id"]
    r = await client.post(f"{API}/projects/{pid_b}/supervisors", headers=staff_b,
                          json={"name": "监督员乙", "phone": "13912345679", "source": "resident",
                                "username": "supb", "password": PASSWORD})
    assert r.status_code == 201, r.text
    sup_b = await relogin(client, "supb")
    r = await client.post(f"{API}/projects/{pid_b}/contractors", headers=staff_b,
                          json={"name": "施工员乙", "phone": "13912345670", "organization": "乙建设",
                                "username": "conb", "password": PASSWORD})
    assert r.status_code == 201, r.text
    con_b_id = r.json()["user_id"]
    rid_a = await _assigned(client, world.staff, pa)
    r = await file_report(client, pid_b, sup_b, phone_jpeg(), severity="critical")
    assert r.status_code == 201, r.text
    rid_b = r.json()["id"]
    assert (await act(client, rid_b, staff_b, "acknowledge")).status_code == 200
    assert (await act(client, rid_b, staff_b, "assign", assignee_id=con_b_id)).status_code == 200
    # a community of another jurisdiction, with its staff
    r = await client.post(f"{API}/jurisdictions", headers=world.admin, json={"name": "别的区", "preset": "laoshan"})
    other_cid = await create_community(client, world.admin, r.json()["id"], "外区小区")
    await add_staff(client, world.admin, other_cid, "staffx")

    clock.set(sh(2026, 10, 9, 10, 0))  # both overdue
    overdue = f"{API}/jurisdictions/{jid}/overdue-reports"
    stats = f"{API}/jurisdictions/{jid}/supervision-stats"
    admin = await relogin(client, "admin", ADMIN_PASSWORD)
    assert {i["id"] for i in (await client.get(overdue, headers=admin)).json()["items"]} == {rid_a, rid_b}
    whole = (await client.get(stats, headers=admin)).json()
    assert (whole["community_ids"], whole["reports"], len(whole["projects"])) == (None, 2, 2)
    for user, cid, rid, pid in (("staff1", world.community_id, rid_a, pa.id), ("staffb", cid_b, rid_b, pid_b)):
        h = await relogin(client, user, STAFF_PASSWORD)
        r = await client.get(overdue, headers=h)
        assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [rid], user
        part = (await client.get(stats, headers=h)).json()
        assert (part["community_ids"], part["reports"], [x["project_id"] for x in part["projects"]]) == (
            [cid], 1, [pid]), user
        assert part["rectification"]["overdue_now"] == 1 and len(part["contractors"]) == 1
    # staff of another jurisdiction, residents, supervisors and contractors: not related (404)
    for h in (await relogin(client, "staffx", STAFF_PASSWORD), await token_for(app, world.residents[0].user_id),
              await relogin(client, "supb"), await token_for(app, con_b_id)):
        assert (await client.get(overdue, headers=h)).status_code == 404
        assert (await client.get(stats, headers=h)).status_code == 404
    assert staff_b_id


async def test_create_admin_of_one_jurisdiction_from_the_command_line(app, client, clock, settings,
                                                                      monkeypatch) -> None:
    import app.cli_tasks as cli_tasks

    world = await build_world(app, client)
    monkeypatch.setattr(cli_tasks, "get_settings", lambda: settings)
    with pytest.raises(ValueError, match="not found"):
        await cli_tasks.create_admin("street3", PASSWORD, "街道办", jurisdiction_id="nope")
    user_id = await cli_tasks.create_admin("street3", PASSWORD, "街道办", jurisdiction_id=world.jurisdiction_id)
    office = await relogin(client, "street3")
    me = (await client.get(f"{API}/me", headers=office)).json()
    assert [r for r in me["roles"] if r["role"] == "admin"] == [{"role": "admin", "scope_id": world.jurisdiction_id}]
    assert (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}/supervision-stats",
                             headers=office)).status_code == 200
    async with app.state.db.read_session() as s:
        [entry] = (await s.exec(select(AuditEntry).where(AuditEntry.action == "jurisdiction.admin_granted"))).all()
    assert (entry.entity_id, entry.data) == (user_id, {"jurisdiction_id": world.jurisdiction_id, "via": "cli"})
