"""Photos others will see go to WeChat's mediaCheckAsync and wait for the signed wxa_media_check push."""

from __future__ import annotations

from app.media.models import MediaObject
from tests.content.helpers import (
    API,
    PUSH_TOKEN,
    audits,
    local_path,
    media_event,
    open_notice,
    push,
    push_encrypted,
    sign,
    wechat_resident,
)
from tests.supervision.helpers import appoint, create_project, file_report, photo_files
from tests.voting.helpers import jpeg


async def _objection_with_photo(client, wechat, world, openid: str) -> tuple[dict, str, str, str]:
    """A WeChat resident's objection (answered, so residents see it) with one photo: (headers, notice id,
    objection id, photo id)."""
    nid = await open_notice(client, world)
    headers, _ = await wechat_resident(client, wechat, world, openid)
    r = await client.post(f"{API}/notices/{nid}/objections", headers=headers, json={"text": "楼下堆放建筑垃圾"})
    assert r.status_code == 201 and r.json()["content_check"] == "pass", r.text
    oid = r.json()["id"]
    r = await client.post(f"{API}/objections/{oid}/photos", headers=headers, files=photo_files(jpeg()))
    assert r.status_code == 201, r.text
    [photo] = r.json()["photos"]
    assert photo["check_status"] == "pending_check"
    r = await client.post(f"{API}/objections/{oid}/resolution", headers=world.staff,
                          json={"decision": "rejected", "reason": "已清运"})
    assert r.status_code == 200, r.text
    return headers, nid, oid, photo["id"]


async def _photos_seen(client, headers, nid, oid) -> list[dict]:
    r = await client.get(f"{API}/notices/{nid}/objections", headers=headers)
    assert r.status_code == 200, r.text
    return next((o["photos"] for o in r.json()["items"] if o["id"] == oid), [])


async def _get(client, headers, oid, mid) -> int:
    return (await client.get(f"{API}/objections/{oid}/photos/{mid}", headers=headers)).status_code


async def test_photo_pending_until_the_signed_verdict_then_visible(app, client, wechat, world, clock) -> None:
    headers, nid, oid, mid = await _objection_with_photo(client, wechat, world, "openid-photo")
    other = world.residents[1].headers
    [sub] = wechat.media_checks
    assert sub["media_type"] == 2 and sub["version"] == 2 and sub["openid"] == "openid-photo"
    assert sub["scene"] in (1, 2, 3, 4)
    # WeChat fetches the photo at the signed URL without signing in; a wrong or missing signature is 404
    url = local_path(sub["media_url"])
    assert f"/wechat/media/{mid}?" in url
    r = await client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert (await client.get(url.replace("sig=", "sig=0"))).status_code == 404
    assert (await client.get(f"{API}/wechat/media/{mid}")).status_code == 404
    # pending: the uploader and staff see it, another resident neither lists nor fetches it
    assert await _photos_seen(client, other, nid, oid) == []
    assert await _get(client, other, oid, mid) == 404
    assert (await client.get(f"{API}/photos/{mid}", headers=other)).status_code == 404
    assert await _get(client, headers, oid, mid) == 200 and await _get(client, world.staff, oid, mid) == 200
    # the verdict arrives (plain mode, signed): pass → everyone who sees the objection sees the photo
    r = await push(client, media_event(sub["trace_id"], "pass"))
    assert r.status_code == 200 and r.text == "success"
    [seen] = await _photos_seen(client, other, nid, oid)
    assert seen["id"] == mid and seen["check_status"] is None
    assert await _get(client, other, oid, mid) == 200
    assert (await _photos_seen(client, headers, nid, oid))[0]["check_status"] == "pass"
    [entry] = await audits(app, "photo.check_result")
    assert entry.entity_id == mid and entry.data["check_status"] == "pass" and entry.actor_id is None
    # a replay (even with another verdict) changes nothing
    r = await push(client, media_event(sub["trace_id"], "risky"), nonce="again")
    assert r.status_code == 200 and r.text == "success"
    assert await _get(client, other, oid, mid) == 200
    assert len(await audits(app, "photo.check_result")) == 1
    # the signed URL lapses after WECHAT_MEDIA_URL_SECONDS
    assert (await client.get(url)).status_code == 200
    clock.advance(seconds=app.state.settings.wechat_media_url_seconds + 1)
    assert (await client.get(url)).status_code == 404


async def test_risky_photo_hidden_from_all_but_staff(app, client, wechat, world) -> None:
    headers, nid, oid, mid = await _objection_with_photo(client, wechat, world, "openid-bad-photo")
    other = world.residents[1].headers
    r = await push(client, media_event(wechat.media_checks[0]["trace_id"], "risky"))
    assert r.status_code == 200
    assert await _photos_seen(client, other, nid, oid) == []
    assert await _get(client, other, oid, mid) == 404
    # the uploader sees that it was rejected, but it is not served to them either
    [own] = await _photos_seen(client, headers, nid, oid)
    assert own["check_status"] == "risky" and await _get(client, headers, oid, mid) == 404
    assert await _get(client, world.staff, oid, mid) == 200
    # staff may release it (audited): then it is shown
    r = await client.post(f"{API}/moderation/photos/{mid}/approve", headers=other)
    assert r.status_code == 403
    r = await client.post(f"{API}/moderation/photos/{mid}/approve", headers=world.staff, json={"reason": "误判"})
    assert r.status_code == 200 and r.json() == {"kind": "photos", "id": mid, "status": "released"}
    assert await _get(client, other, oid, mid) == 200
    [entry] = await audits(app, "photo.released")
    assert entry.data["from"] == "risky" and entry.data["reason"] == "误判"
    r = await client.post(f"{API}/moderation/photos/{mid}/approve", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "moderation.already_decided"


async def test_bad_signatures_unknown_traces_and_the_handshake(app, client, wechat, world) -> None:
    headers, nid, oid, mid = await _objection_with_photo(client, wechat, world, "openid-sig")
    trace = wechat.media_checks[0]["trace_id"]
    r = await push(client, media_event(trace, "pass"), token="not-the-token")
    assert r.status_code == 401 and r.json()["code"] == "wechat.bad_signature"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(f"{API}/wechat/events", content=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert await _get(client, world.residents[1].headers, oid, mid) == 404  # still pending
    # an unknown trace id or another event: accepted, nothing changes
    assert (await push(client, media_event("trace-nobody-knows", "pass"))).text == "success"
    assert (await push(client, {"MsgType": "event", "Event": "user_enter_tempsession"})).text == "success"
    assert await audits(app, "photo.check_result") == []
    r = await client.post(f"{API}/wechat/events", params={"signature": sign(PUSH_TOKEN, "1", "2"), "timestamp": "1",
                                                          "nonce": "2"}, content=b"not json")
    assert r.status_code == 400 and r.json()["code"] == "wechat.bad_push"
    # the URL check of WeChat's console
    q = {"signature": sign(PUSH_TOKEN, "1764900000", "abc"), "timestamp": "1764900000", "nonce": "abc",
         "echostr": "echo-123"}
    r = await client.get(f"{API}/wechat/events", params=q)
    assert r.status_code == 200 and r.text == "echo-123"
    r = await client.get(f"{API}/wechat/events", params=q | {"nonce": "abd"})
    assert r.status_code == 401
    # without a configured token every push is refused
    app.state.settings.wechat_push_token = ""
    assert (await push(client, media_event(trace, "pass"))).status_code == 401
    assert (await client.get(f"{API}/wechat/events", params=q)).status_code == 401


async def test_encrypted_push(app, client, wechat, world) -> None:
    headers, nid, oid, mid = await _objection_with_photo(client, wechat, world, "openid-aes")
    trace = wechat.media_checks[0]["trace_id"]
    r = await push_encrypted(client, app.state.settings, media_event(trace, "pass"), tamper=True)
    assert r.status_code == 401 and r.json()["code"] == "wechat.bad_signature"
    assert await _get(client, world.residents[1].headers, oid, mid) == 404
    r = await push_encrypted(client, app.state.settings, media_event(trace, "pass"))
    assert r.status_code == 200 and r.text == "success"
    assert await _get(client, world.residents[1].headers, oid, mid) == 200


async def test_report_photos_wait_and_wechat_down_leaves_them_for_staff(app, client, wechat, world) -> None:
    pid = await create_project(client, world)
    headers, uid = await wechat_resident(client, wechat, world, "openid-sup-photo")
    r = await client.post(f"{API}/projects/{pid}/supervisors", headers=world.staff,
                          json={"user_id": uid, "source": "resident"})
    assert r.status_code == 201, r.text
    _, other = await appoint(client, world, pid, "supervisors", "sup-pass-2")
    r = await file_report(client, pid, headers, jpeg(), jpeg((10, 200, 10)))
    assert r.status_code == 201, r.text
    rep = r.json()
    assert [p["check_status"] for p in rep["photos"]] == ["pending_check", "pending_check"]
    assert len(wechat.media_checks) == 2
    # the other supervisor sees the report (its text passed) but not the pending photos
    seen = (await client.get(f"{API}/reports/{rep['id']}", headers=other)).json()
    assert seen["photos"] == [] and seen["photo_count"] == 0
    first, second = rep["photos"]
    assert (await client.get(f"{API}/photos/{first['id']}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/photos/{first['id']}", headers=headers)).status_code == 200
    # staff see them with the status, and can work on the report meanwhile
    staff = (await client.get(f"{API}/reports/{rep['id']}", headers=world.staff)).json()
    assert [p["check_status"] for p in staff["photos"]] == ["pending_check", "pending_check"]
    r = await client.post(f"{API}/reports/{rep['id']}/transitions", headers=world.staff,
                          json={"action": "acknowledge"})
    assert r.status_code == 200, r.text
    await push(client, media_event(wechat.media_checks[0]["trace_id"], "pass"))
    await push(client, media_event(wechat.media_checks[1]["trace_id"], "review"))
    seen = (await client.get(f"{API}/reports/{rep['id']}", headers=other)).json()
    assert [p["id"] for p in seen["photos"]] == [first["id"]]
    assert len(await audits(app, "photo.check_inconclusive")) == 1
    # WeChat down at upload: the photos are kept, pending, for staff to release
    wechat.media_errcode = 45009
    r = await file_report(client, pid, headers, jpeg((200, 10, 10)))
    assert r.status_code == 201 and r.json()["photos"][0]["check_status"] == "pending_check"
    down = r.json()["photos"][0]["id"]
    async with app.state.db.read_session() as s:
        row = await s.get(MediaObject, down)
        assert row is not None and row.check_trace_id is None and row.check_status == "pending_check"
    [filed] = [e for e in await audits(app, "report.filed") if e.entity_id == r.json()["id"]]
    assert filed.data["checks"][0]["failure"] == "wechat_unavailable"
    assert (await client.get(f"{API}/photos/{down}", headers=other)).status_code == 404
    r = await client.post(f"{API}/moderation/photos/{down}/approve", headers=world.staff)
    assert r.status_code == 200 and r.json()["status"] == "released"
    assert (await client.get(f"{API}/photos/{down}", headers=other)).status_code == 200
    # staff may also hide a photo that passed
    r = await client.post(f"{API}/moderation/photos/{first['id']}/reject", headers=world.staff)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (await client.get(f"{API}/photos/{first['id']}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/photos/{first['id']}", headers=world.staff)).status_code == 200
