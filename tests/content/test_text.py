"""WeChat's msgSecCheck on what residents write for others to read: objections and quality reports."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from app.publicity.models import Objection
from app.supervision.models import Report
from tests.content.helpers import API, audits, open_notice, wechat_resident
from tests.supervision.helpers import appoint, create_project, file_report
from tests.voting.helpers import jpeg


async def _objections(app) -> int:
    async with app.state.db.read_session() as s:
        return int((await s.exec(select(func.count()).select_from(Objection))).one())


async def _file(client, headers, nid, text):
    return await client.post(f"{API}/notices/{nid}/objections", headers=headers, json={"text": text})


async def _listed(client, headers, nid) -> dict[str, dict]:
    r = await client.get(f"{API}/notices/{nid}/objections", headers=headers)
    assert r.status_code == 200, r.text
    return {o["id"]: o for o in r.json()["items"]}


async def test_risky_text_is_refused_and_nothing_stored(app, client, wechat, world) -> None:
    nid = await open_notice(client, world)
    headers, _ = await wechat_resident(client, wechat, world, "openid-risky")
    wechat.sec_words["违禁词"] = "risky"
    r = await _file(client, headers, nid, "这里有违禁词内容")
    assert r.status_code == 422 and r.json()["code"] == "content.rejected", r.text
    assert "违规" in r.json()["detail"]
    assert await _objections(app) == 0 and await audits(app, "objection.filed") == []
    call = wechat.sec_calls()[-1]
    assert call == {"content": "这里有违禁词内容", "version": 2, "scene": 2, "openid": "openid-risky"}
    # the same user's clean text passes and is stored as checked
    r = await _file(client, headers, nid, "电梯位置不合理")
    assert r.status_code == 201 and r.json()["content_check"] == "pass" and r.json()["content_notice"] is None
    [entry] = await audits(app, "objection.filed")
    assert entry.data["content_check"] == "pass" and entry.data["wechat_trace_id"].startswith("sec-trace-")


async def test_review_is_hidden_from_others_until_staff_approve(app, client, wechat, world) -> None:
    nid = await open_notice(client, world)
    headers, _ = await wechat_resident(client, wechat, world, "openid-review")
    other = world.residents[1].headers
    wechat.sec_suggest = "review"
    r = await _file(client, headers, nid, "请再核实一下施工噪音的时段")
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["content_check"] == "review" and "审核" in o["content_notice"]
    # answered by staff (residents see answered objections) — still hidden from others while under review
    r = await client.post(f"{API}/objections/{o['id']}/resolution", headers=world.staff,
                          json={"decision": "rejected", "reason": "施工时段符合规定"})
    assert r.status_code == 200, r.text
    assert o["id"] not in await _listed(client, other, nid)
    mine = await _listed(client, headers, nid)
    assert mine[o["id"]]["text"] == "请再核实一下施工噪音的时段" and mine[o["id"]]["content_check"] == "review"
    staff = await _listed(client, world.staff, nid)
    assert staff[o["id"]]["content_check"] == "review"
    # residents cannot moderate; staff approve (audited), then the other resident sees it without the check
    r = await client.post(f"{API}/moderation/objections/{o['id']}/approve", headers=other)
    assert r.status_code == 403
    r = await client.post(f"{API}/moderation/objections/{o['id']}/approve", headers=world.staff,
                          json={"reason": "内容无不当之处"})
    assert r.status_code == 200 and r.json() == {"kind": "objections", "id": o["id"], "status": "approved"}
    seen = (await _listed(client, other, nid))[o["id"]]
    assert seen["text"] == "请再核实一下施工噪音的时段" and seen["content_check"] is None
    [entry] = await audits(app, "content.approved")
    assert entry.entity_id == o["id"] and entry.data == {"from": "review", "to": "approved",
                                                         "reason": "内容无不当之处"}
    r = await client.post(f"{API}/moderation/objections/{o['id']}/approve", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "moderation.already_decided"
    # staff may still take it down: hidden from others again
    r = await client.post(f"{API}/moderation/objections/{o['id']}/reject", headers=world.staff)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert o["id"] not in await _listed(client, other, nid)
    assert (await _listed(client, headers, nid))[o["id"]]["content_notice"] == "内容未通过审核，其他人不可见"
    assert (await client.post(f"{API}/moderation/objections/nope/approve", headers=world.staff)).status_code == 404


async def test_password_users_and_the_setting_off_skip_the_check(app, client, wechat, world) -> None:
    nid = await open_notice(client, world)
    wechat.sec_suggest = "risky"  # would refuse anything checked
    r = await _file(client, world.residents[0].headers, nid, "没有绑定微信的住户")  # activated without WeChat
    assert r.status_code == 201 and r.json()["content_check"] == "skipped"
    assert wechat.sec_calls() == []
    headers, _ = await wechat_resident(client, wechat, world, "openid-off")
    app.state.settings.wechat_content_check = False  # WECHAT_CONTENT_CHECK=false
    r = await _file(client, headers, nid, "部署在微信之外")
    assert r.status_code == 201 and r.json()["content_check"] == "skipped"
    assert wechat.sec_calls() == []
    app.state.settings.wechat_content_check = True
    assert (await _file(client, headers, nid, "再试一次")).status_code == 422


async def test_wechat_down_keeps_the_text_for_review(app, client, wechat, world) -> None:
    nid = await open_notice(client, world)
    headers, _ = await wechat_resident(client, wechat, world, "openid-down")
    wechat.timeout_sec = True
    r = await _file(client, headers, nid, "超时的时候提交")
    assert r.status_code == 201, r.text
    assert r.json()["content_check"] == "review" and "暂时无法完成" in r.json()["content_notice"]
    wechat.timeout_sec = False
    wechat.sec_errcode = 45009  # daily quota
    r = await _file(client, headers, nid, "配额用完的时候提交")
    assert r.status_code == 201 and r.json()["content_check"] == "review"
    wechat.sec_errcode = 61010  # an errcode this client does not expect
    r = await _file(client, headers, nid, "异常错误码")
    assert r.status_code == 201 and r.json()["content_check"] == "review"
    entries = await audits(app, "objection.filed")
    assert [e.data.get("wechat_unavailable") for e in entries] == [True, True, True]
    assert [e.data.get("wechat_errcode") for e in entries] == [None, 45009, 61010]
    assert await _objections(app) == 3
    # a revoked access token is refreshed once, then the check goes through
    wechat.sec_errcode = None
    wechat.revoked_tokens.add("AT1")
    r = await _file(client, headers, nid, "令牌过期之后")
    assert r.status_code == 201 and r.json()["content_check"] == "pass"


async def test_report_under_review_is_hidden_from_other_supervisors(app, client, wechat, world) -> None:
    pid = await create_project(client, world)
    headers, uid = await wechat_resident(client, wechat, world, "openid-supervisor")
    r = await client.post(f"{API}/projects/{pid}/supervisors", headers=world.staff,
                          json={"user_id": uid, "source": "resident"})
    assert r.status_code == 201, r.text
    _, other = await appoint(client, world, pid, "supervisors", "sup-password")
    # risky: refused, nothing stored (the photo neither)
    wechat.sec_words["违禁"] = "risky"
    r = await file_report(client, pid, headers, jpeg(), description="违禁描述")
    assert r.status_code == 422 and r.json()["code"] == "content.rejected"
    async with app.state.db.read_session() as s:
        assert (await s.exec(select(func.count()).select_from(Report))).one() == 0
    # a free title is checked with the description
    wechat.sec_suggest = "review"
    r = await file_report(client, pid, headers, jpeg(), catalog_item="自拟标题", description="楼道灯不亮")
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["content_check"] == "review" and wechat.sec_calls()[-1]["content"] == "自拟标题\n楼道灯不亮"
    assert wechat.sec_calls()[-1]["scene"] == 3
    # the password supervisor files a report of their own: not checked
    calls = len(wechat.sec_calls())
    r = await file_report(client, pid, other, jpeg())
    assert r.status_code == 201 and r.json()["content_check"] == "skipped" and len(wechat.sec_calls()) == calls
    assert (await client.get(f"{API}/reports/{rep['id']}", headers=other)).status_code == 404
    listed = (await client.get(f"{API}/projects/{pid}/reports", headers=other)).json()["items"]
    assert rep["id"] not in {i["id"] for i in listed} and len(listed) == 1
    assert (await client.get(f"{API}/reports/{rep['id']}", headers=headers)).json()["content_check"] == "review"
    staff_view = (await client.get(f"{API}/reports/{rep['id']}", headers=world.staff)).json()
    assert staff_view["content_check"] == "review" and "acknowledge" in staff_view["actions"]
    # a supervisor cannot moderate; staff approve → the other supervisor sees it
    r = await client.post(f"{API}/moderation/reports/{rep['id']}/approve", headers=other)
    assert r.status_code == 403
    r = await client.post(f"{API}/moderation/reports/{rep['id']}/approve", headers=world.staff)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert (await client.get(f"{API}/reports/{rep['id']}", headers=other)).status_code == 200
    listed = (await client.get(f"{API}/projects/{pid}/reports", headers=other)).json()["items"]
    assert rep["id"] in {i["id"] for i in listed}
    [entry] = await audits(app, "content.approved")
    assert entry.entity_type == "report" and entry.actor_id == world.staff_user_id



async def test_a_text_longer_than_wechats_limit_is_checked_in_parts(settings, clock) -> None:
    """msgSecCheck takes 2500 characters a call (today's forms stay below it): a longer text is checked part
    by part, and the worst verdict counts."""
    import httpx
    import pytest

    from app.core.content import ContentRejected, ContentScreen, TextCheck
    from app.core.wechat import WechatClient
    from tests.fakes import FakeWechat

    fake = FakeWechat()
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as http:
        screen = ContentScreen(WechatClient(http, settings.model_copy(update={"wechat_api_base": "https://wechat.test"}),
                                            clock), settings)
        fake.sec_words["尾部违禁"] = "risky"
        with pytest.raises(ContentRejected):
            await screen.text(openid="openid-long", text="墙" * 2600 + "尾部违禁" + "砖" * 1000)
        assert [len(c["content"]) for c in fake.sec_calls()] == [2500, 1104]
        fake.sec_words = {"砖": "review"}
        held = await screen.text(openid="openid-long", text="墙" * 2600 + "砖")
        assert held.status == TextCheck.REVIEW and held.trace_id is not None
        assert [len(c["content"]) for c in fake.sec_calls()[2:]] == [2500, 101]
        fake.sec_words = {}
        assert (await screen.text(openid="openid-long", text="墙" * 5001)).status == TextCheck.PASS
        assert [len(c["content"]) for c in fake.sec_calls()[4:]] == [2500, 2500, 1]
