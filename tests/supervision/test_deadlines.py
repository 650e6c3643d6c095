"""Rectification deadlines in working days, the warning before and the escalation after, the reporter told of
every transition, failed verification with the reopen counter and the flag — through HTTP and the worker's
round, with the clock standing in the 2026 National Day week (Oct 1–7 off, Sat Oct 10 a working day).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from app.core.models import AuditEntry
from app.rules import SHANGHAI
from app.supervision.models import Alert
from app.turnout.worker import tick
from tests.factories import STAFF_PASSWORD, World, build_world
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import (
    Project,
    act,
    appoint,
    bind_openid,
    deadline_round,
    file_report,
    photo_files,
    project_with_people,
    relogin,
    report_messages,
    street_office,
    token_for,
)

API = "/api/v1"


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


async def _world(app, client, clock) -> tuple[World, Project, str]:
    """Monday 2026-09-28 10:00 Shanghai: a project whose supervisor and contractor, and the street office, are
    bound to WeChat."""
    clock.set(sh(2026, 9, 28, 10, 0))
    world = await build_world(app, client)
    p = await project_with_people(client, world)
    office = await street_office(app, world.jurisdiction_id, openid="wx-office")
    await bind_openid(app, p.supervisor_id, "wx-sup")
    await bind_openid(app, p.contractor_id, "wx-con")
    return world, p, office


async def _assigned(client, world: World, p: Project, **fields) -> dict:
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), **({"severity": "critical"} | fields))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await act(client, rid, world.staff, "acknowledge")).status_code == 200
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id)
    assert r.status_code == 200, r.text
    return r.json()


async def _rectify(client, rid: str, contractor: dict, image: bytes | None = None) -> dict:
    up = await client.post(f"{API}/reports/{rid}/photos", headers=contractor, files=photo_files(image or phone_jpeg()))
    assert up.status_code == 201, up.text
    r = await act(client, rid, contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert r.status_code == 200, r.text
    return r.json()


async def test_deadlines_by_severity_across_national_day(app, client, clock) -> None:
    world, p, _ = await _world(app, client, clock)
    due = {}
    for severity in ("critical", "major", "minor"):
        report = await _assigned(client, world, p, severity=severity)
        due[severity] = (report["due_date"], report["deadline_working_days"])
        assert report["overdue"] is False
        assert report["events"][-1]["data"] | {"assignee_id": None} == {
            "assignee_id": None, "due_date": report["due_date"], "standard_due_date": report["due_date"],
            "working_days": report["deadline_working_days"], "extended": False}
    # counted from Tuesday: 29, 30, (Oct 1–7 off), 8 … 9, Sat 10 (adjusted), 12, 13 … 23
    assert due == {"critical": ("2026-10-08", 3), "major": ("2026-10-13", 7), "minor": ("2026-10-23", 15)}
    rid = report["id"]  # the minor one

    # staff may shorten; lengthening beyond the profile needs a reason, which is recorded and audited
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-10-09")
    assert r.status_code == 200 and r.json()["due_date"] == "2026-10-09"
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-10-26")
    assert r.status_code == 422 and r.json()["code"] == "report.deadline_reason_required"
    assert r.json()["standard_due_date"] == "2026-10-23" and r.json()["errors"][0]["loc"] == ["body", "reason"]
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-10-26",
                  reason="国庆后材料才能进场")
    assert r.status_code == 200 and r.json()["due_date"] == "2026-10-26"
    async with app.state.db.read_session() as s:
        entries = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == rid,
                                                         AuditEntry.action == "report.assign")
                                .order_by(AuditEntry.seq))).all()
    assert [e.data["extended"] for e in entries] == [False, False, True]
    assert entries[-1].data["extension_reason"] == "国庆后材料才能进场"
    assert entries[-1].data["standard_due_date"] == "2026-10-23" and entries[-1].data["working_days"] == 15

    # the rules profile decides the working days: 5 for critical reports ends on the adjusted Saturday
    jurisdiction = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()
    profile = jurisdiction["profile"] | {"rectification_days_critical": 5}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200, r.text
    report = await _assigned(client, world, p)
    assert (report["due_date"], report["deadline_working_days"]) == ("2026-10-10", 5)


async def test_warning_then_escalation_once_per_deadline(app, client, clock) -> None:
    world, p, office = await _world(app, client, clock)
    report = await _assigned(client, world, p)
    rid = report["id"]
    assert report["due_date"] == "2026-10-08"
    before = len(await report_messages(app))

    # the warning is due on the working day before the due date (Wed Sep 30), in daytime only
    for moment in (sh(2026, 9, 28, 10, 30), sh(2026, 9, 29, 19, 0), sh(2026, 9, 30, 8, 59)):
        clock.set(moment)
        run = await deadline_round(app)
        assert (run.warnings, run.escalations) == (0, 0), moment
    clock.set(sh(2026, 9, 30, 9, 0))
    run = await deadline_round(app)
    assert (run.warnings, run.escalations, run.messages) == (1, 0, 1)
    assert (await deadline_round(app)).warnings == 0  # once per deadline
    clock.set(sh(2026, 9, 30, 15, 0))
    assert (await deadline_round(app)).warnings == 0
    rows = (await report_messages(app))[before:]
    assert [(m.user_id, m.recipient, m.payload["kind"]) for m in rows] == [(p.contractor_id, "wx-con", "warning")]
    assert rows[0].item_id == rid and rows[0].payload["page"] == f"pages/report/detail?id={rid}"
    assert rows[0].payload["data"]["time2"]["value"] == "2026年10月08日 23:59"

    # the holiday week does not count; on the due date itself it is not overdue yet
    for moment in (sh(2026, 10, 5, 10, 0), sh(2026, 10, 8, 19, 59)):
        clock.set(moment)
        assert (await deadline_round(app)).escalations == 0
    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    assert (await client.get(f"{API}/reports/{rid}", headers=staff)).json()["overdue"] is False

    # Friday Oct 9: overdue, escalated once to the street office and the contractor
    clock.set(sh(2026, 10, 9, 10, 0))
    run = await deadline_round(app)
    assert (run.warnings, run.escalations, run.messages) == (0, 1, 2)
    assert (await deadline_round(app)).escalations == 0
    rows = (await report_messages(app))[before + 1:]
    assert sorted((m.recipient, m.payload["kind"]) for m in rows) == [("wx-con", "escalation"),
                                                                      ("wx-office", "escalation")]
    office_h = await token_for(app, office)
    url = f"{API}/jurisdictions/{world.jurisdiction_id}/overdue-reports"
    r = await client.get(url, headers=office_h)
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert (item["id"], item["reasons"], item["working_days_overdue"]) == (rid, ["overdue"], 1)
    assert item["escalated_at"] == "2026-10-09T02:00:00Z" and item["organization"] == "青岛建工"
    assert item["assignee_name"] == "contractors-con" and item["project_title"] == "综合整治"
    # the street office, and community staff for their own communities; the contractor is not related to it
    r = await client.get(url, headers=await relogin(client, "staff1", STAFF_PASSWORD))
    assert r.status_code == 200 and [i["id"] for i in r.json()["items"]] == [rid]
    assert (await client.get(url, headers=await token_for(app, p.contractor_id))).status_code == 404
    admin = await relogin(client, "admin", "admin-pass-2026!")
    assert [i["id"] for i in (await client.get(url, headers=admin)).json()["items"]] == [rid]

    # Sunday Oct 11: the adjusted Saturday counted, Sunday not
    clock.set(sh(2026, 10, 11, 10, 0))
    office_h = await token_for(app, office)
    assert (await client.get(url, headers=office_h)).json()["items"][0]["working_days_overdue"] == 2

    # a new deadline starts a new period: reassigned on Sunday → Mon 12, Tue 13, Wed 14
    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    r = await act(client, rid, staff, "assign", assignee_id=p.contractor_id)
    assert r.status_code == 200 and r.json()["due_date"] == "2026-10-14" and r.json()["overdue"] is False
    assert (await client.get(url, headers=office_h)).json()["items"] == []
    clock.set(sh(2026, 10, 13, 10, 0))
    assert (await deadline_round(app)).warnings == 1
    clock.set(sh(2026, 10, 15, 10, 0))
    assert (await deadline_round(app)).escalations == 1
    assert (await deadline_round(app)).escalations == 0
    async with app.state.db.read_session() as s:
        alerts = (await s.exec(select(Alert.kind, Alert.period, Alert.due_date).where(Alert.report_id == rid)
                               .order_by(Alert.created_at))).all()
        audited = (await s.exec(select(AuditEntry.action).where(
            AuditEntry.entity_id == rid, AuditEntry.action.in_(["report.deadline_warning", "report.escalated"])))).all()
    assert [(k, n, d.isoformat()) for k, n, d in alerts] == [
        ("warning", 1, "2026-10-08"), ("escalation", 1, "2026-10-08"),
        ("warning", 2, "2026-10-14"), ("escalation", 2, "2026-10-14")]
    assert sorted(audited) == ["report.deadline_warning"] * 2 + ["report.escalated"] * 2


async def test_a_report_first_seen_overdue_is_escalated_not_warned(app, client, clock) -> None:
    world, p, _ = await _world(app, client, clock)
    rid = (await _assigned(client, world, p))["id"]
    clock.set(sh(2026, 10, 12, 9, 30))  # the worker did not run for two weeks
    run = await deadline_round(app)
    assert (run.warnings, run.escalations) == (0, 1)
    kinds = [m.payload["kind"] for m in await report_messages(app) if m.user_id == p.contractor_id]
    assert "warning" not in kinds and kinds.count("escalation") == 1
    # a new deadline of today: its warning is due at once, but nothing goes out in the evening or at night
    staff = await relogin(client, "staff1", STAFF_PASSWORD)
    r = await act(client, rid, staff, "assign", assignee_id=p.contractor_id, due_date="2026-10-12")
    assert r.status_code == 200, r.text
    clock.set(sh(2026, 10, 12, 20, 0))
    assert (await deadline_round(app)).warnings == 0
    clock.set(sh(2026, 10, 13, 8, 59))
    assert (await deadline_round(app)).escalations == 0
    clock.set(sh(2026, 10, 13, 9, 0))  # by now it is overdue: escalated, the missed warning is not sent late
    run = await deadline_round(app)
    assert (run.warnings, run.escalations) == (0, 1)


async def test_the_worker_tick_runs_the_round_and_delivers(app, client, clock) -> None:
    world, p, _ = await _world(app, client, clock)
    rid = (await _assigned(client, world, p))["id"]
    clock.set(sh(2026, 9, 30, 10, 0))
    stats = await tick(app)
    assert (stats["deadline_warnings"], stats["escalations"], stats["errors"]) == (1, 0, 0) and stats["sent"] >= 1
    warning = [m for m in await report_messages(app) if m.payload["kind"] == "warning"]
    assert [(m.item_id, m.recipient, m.status) for m in warning] == [(rid, "wx-con", "sent")]


async def test_reporter_told_of_every_transition_failed_verification_and_flag(app, client, clock) -> None:
    world, p, office = await _world(app, client, clock)
    sup2_id, sup2 = await appoint(client, world, p.id, "supervisors", "sup2")
    report = await _assigned(client, world, p)
    rid = report["id"]

    r = await _rectify(client, rid, p.contractor)
    assert r["status"] == "rectified" and r["actions"] == []
    # a failed verification needs its reason, then goes back to rectifying with a new deadline
    r = await act(client, rid, sup2, "reject")
    assert r.status_code == 422 and r.json()["code"] == "report.note_required"
    assert (await act(client, rid, p.contractor, "reject", note="x")).status_code == 403  # never the contractor
    r = await act(client, rid, sup2, "reject", note="保温层仍有空鼓")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reopen_count"], r.json()["flagged"]) == ("rectifying", 1, False)
    assert r.json()["due_date"] == "2026-10-08" and r.json()["events"][-1]["data"]["reopen_count"] == 1
    await _rectify(client, rid, p.contractor)
    r = await act(client, rid, sup2, "reject", note="仍未修好")
    assert (r.json()["reopen_count"], r.json()["flagged"]) == (2, True) and r.json()["flagged_at"]

    # flagged: the street office is told once and sees it (not overdue, not settled)
    flags = [m for m in await report_messages(app) if m.payload["kind"] == "flag"]
    assert [(m.user_id, m.payload["data"]["thing3"]["value"]) for m in flags] == [(office, "该问题已重新打开2次，请督办")]
    url = f"{API}/jurisdictions/{world.jurisdiction_id}/overdue-reports"
    [item] = (await client.get(url, headers=await token_for(app, office))).json()["items"]
    assert (item["id"], item["reasons"], item["reopen_count"], item["overdue"]) == (rid, ["flagged"], 2, False)

    # the reporter verifies the third rectification themselves: no message to them for that one
    await _rectify(client, rid, p.contractor)
    assert (await act(client, rid, p.supervisor, "verify")).status_code == 200
    assert (await act(client, rid, world.staff, "close")).status_code == 200
    r = await act(client, rid, world.staff, "reopen", note="又渗水")
    assert r.json()["reopen_count"] == 3 and r.json()["status"] == "rectifying"
    assert len([m for m in await report_messages(app) if m.payload["kind"] == "flag"]) == 1  # flagged once
    async with app.state.db.read_session() as s:
        flagged = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == rid,
                                                         AuditEntry.action == "report.flagged"))).all()
    assert [e.data["reopen_count"] for e in flagged] == [2]

    rows = await report_messages(app)
    to_reporter = [m.payload["data"]["thing3"]["value"] for m in rows if m.user_id == p.supervisor_id]
    assert to_reporter == ["您反映的问题已受理", "您反映的问题已派单整改", "您反映的问题已整改，待复核",
                           "您反映的问题已重新整改", "您反映的问题已整改，待复核", "您反映的问题已重新整改",
                           "您反映的问题已整改，待复核", "您反映的问题已办结", "您反映的问题已重新整改"]
    to_contractor = [m.payload["data"]["thing3"]["value"] for m in rows
                     if m.user_id == p.contractor_id and m.payload["kind"] == "transition"]
    assert to_contractor == ["请在期限内完成整改", "复核未通过，请重新整改", "复核未通过，请重新整改", "请在期限内完成整改"]
    assert {m.recipient for m in rows if m.user_id == p.supervisor_id} == {"wx-sup"}
    # the second supervisor has no WeChat: nothing queued for them
    assert not [m for m in rows if m.user_id == sup2_id]


async def test_the_round_sends_on_working_days_only(app, client, clock) -> None:
    """Nothing goes out on statutory holidays or weekends; the next working day's round sends what is due then
    (an adjusted working Saturday counts)."""
    world, p, _ = await _world(app, client, clock)

    async def assigned(severity: str, due_date: str | None = None) -> str:
        r = await file_report(client, p.id, p.supervisor, phone_jpeg(), severity=severity)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (await act(client, rid, world.staff, "acknowledge")).status_code == 200
        body = {"due_date": due_date} if due_date else {}
        r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, **body)
        assert r.status_code == 200, r.text
        return rid

    r1 = await assigned("critical")  # due Thu Oct 8, warning due Wed Sep 30
    r2 = await assigned("major", "2026-10-09")  # due Fri Oct 9, warning due Thu Oct 8
    r3 = await assigned("minor", "2026-10-16")  # due Fri Oct 16: overdue over the weekend
    r4 = await assigned("minor", "2026-10-19")  # due Mon Oct 19, warning due Fri Oct 16
    # the worker did not run on Sep 30; National Day week, daytime: nothing
    for moment in (sh(2026, 10, 1, 10, 0), sh(2026, 10, 3, 12, 0), sh(2026, 10, 7, 19, 0), sh(2026, 10, 8, 8, 59)):
        clock.set(moment)
        run = await deadline_round(app)
        assert (run.warnings, run.escalations, run.messages) == (0, 0, 0), moment
    clock.set(sh(2026, 10, 8, 9, 0))  # the first working day: the warnings due by now
    run = await deadline_round(app)
    assert (run.warnings, run.escalations) == (2, 0)
    clock.set(sh(2026, 10, 9, 10, 0))
    assert ((run := await deadline_round(app)).warnings, run.escalations) == (0, 1)
    clock.set(sh(2026, 10, 10, 10, 0))  # Saturday, an adjusted working day
    assert ((run := await deadline_round(app)).warnings, run.escalations) == (0, 1)
    # a plain weekend: r3 overdue since Saturday, r4's warning due since Friday (no round then)
    for moment in (sh(2026, 10, 17, 10, 0), sh(2026, 10, 18, 15, 0)):
        clock.set(moment)
        run = await deadline_round(app)
        assert (run.warnings, run.escalations) == (0, 0), moment
    clock.set(sh(2026, 10, 19, 9, 0))
    assert ((run := await deadline_round(app)).warnings, run.escalations) == (1, 1)
    async with app.state.db.read_session() as s:
        alerts = (await s.exec(select(Alert.report_id, Alert.kind, Alert.created_at)
                               .order_by(Alert.created_at, Alert.report_id, Alert.kind))).all()
    sent = sorted((rid, kind, at.astimezone(SHANGHAI).date().isoformat()) for rid, kind, at in alerts)
    assert sent == sorted([(r1, "warning", "2026-10-08"), (r2, "warning", "2026-10-08"),
                           (r1, "escalation", "2026-10-09"), (r2, "escalation", "2026-10-10"),
                           (r3, "escalation", "2026-10-19"), (r4, "warning", "2026-10-19")])
