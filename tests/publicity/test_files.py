"""Notice attachments (PDF/images, size-capped) and objection photos, through HTTP multipart."""

from __future__ import annotations

import io

from PIL import Image

from tests.projects.helpers import make_project, other_community, sh, travel

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (60, 40), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (36.0, 6.0, 15.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


async def notice(client, world, start="2026-11-23") -> dict:
    p = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{p['id']}/notices", headers=world.staff,
                          json={"kind": "plan", "title": "方案公示", "body": "见附件", "start_date": start})
    assert r.status_code == 201, r.text
    return r.json()


async def test_notice_attachments(client, world, settings, clock) -> None:
    n = await notice(client, world)
    url = f"/api/v1/notices/{n['id']}/attachments"
    r = await client.post(url, headers=world.staff, files=[
        ("files", ("改造方案.pdf", PDF, "application/pdf")),
        ("files", ("效果图.jpg", jpeg_with_gps(), "image/jpeg")),
    ])
    assert r.status_code == 201, r.text
    att = r.json()["attachments"]
    assert [a["mime"] for a in att] == ["application/pdf", "image/jpeg"]
    assert att[0]["filename"] == "改造方案.pdf" and att[0]["size_bytes"] == len(PDF)
    assert att[0]["thumbnail_url"] is None and att[1]["thumbnail_url"]
    # residents download them; the image is served without its EXIF
    r = await client.get(att[0]["url"], headers=world.residents[0].headers)
    assert r.status_code == 200 and r.content == PDF and r.headers["content-type"] == "application/pdf"
    r = await client.get(att[1]["url"], headers=world.residents[0].headers)
    assert r.status_code == 200 and b"PhoneMaker" not in r.content
    assert Image.open(io.BytesIO(r.content)).size == (60, 40)
    r = await client.get(att[1]["thumbnail_url"], headers=world.residents[0].headers)
    assert r.status_code == 200
    assert (await client.get(att[0]["url"] + "?thumbnail=true", headers=world.staff)).status_code == 404
    # the notice and the community list show them
    r = await client.get(f"/api/v1/notices/{n['id']}", headers=world.residents[1].headers)
    assert [a["id"] for a in r.json()["attachments"]] == [a["id"] for a in att]
    # outsiders cannot download; unknown ids 404
    _, _, outsider = await other_community(client, world)
    assert (await client.get(att[0]["url"], headers=outsider)).status_code == 404
    assert (await client.get(f"{url}/nope", headers=world.staff)).status_code == 404
    # only staff upload; only PDFs and images; size-capped
    r = await client.post(url, headers=world.residents[0].headers, files=[("files", ("a.pdf", PDF, "application/pdf"))])
    assert r.status_code == 403
    r = await client.post(url, headers=world.staff, files=[("files", ("a.exe", b"MZ\x90\x00" * 10, "application/pdf"))])
    assert r.status_code == 422 and r.json()["code"] == "media.unsupported_type"
    settings.attachment_max_bytes = 1000
    r = await client.post(url, headers=world.staff, files=[("files", ("big.pdf", PDF + b"0" * 2000, "application/pdf"))])
    assert r.status_code == 413 and r.json()["code"] == "media.too_large"
    r = await client.post(url, headers=world.staff, data={"x": "1"})
    assert r.status_code == 422
    # a revised notice publishes an earlier attachment again (same bytes, new record)
    r = await client.post(f"/api/v1/projects/{n['project_id']}/notices", headers=world.staff,
                          json={"kind": "plan", "title": "方案公示（修订）", "body": "见附件", "start_date": "2026-11-24",
                                "attachments": [{"media_id": att[0]["id"]}]})
    assert r.status_code == 201, r.text
    again = r.json()["attachments"]
    assert len(again) == 1 and again[0]["id"] != att[0]["id"] and again[0]["filename"] == "改造方案.pdf"
    r = await client.get(again[0]["url"], headers=world.residents[0].headers)
    assert r.content == PDF
    r = await client.post(f"/api/v1/projects/{n['project_id']}/notices", headers=world.staff,
                          json={"kind": "plan", "title": "t", "body": "b", "start_date": "2026-11-24",
                                "attachments": [{"media_id": "nope"}]})
    assert r.status_code == 422 and r.json()["code"] == "notice.attachment_not_found"
    # after the window no more attachments
    await travel(client, world, clock, sh(2026, 12, 5))
    settings.attachment_max_bytes = 20 * 1024 * 1024
    r = await client.post(url, headers=world.staff, files=[("files", ("late.pdf", PDF, "application/pdf"))])
    assert r.status_code == 409 and r.json()["code"] == "notice.closed"


async def test_objection_photos(client, world, clock) -> None:
    n = await notice(client, world)
    a, b = world.residents[0], world.residents[1]
    o = (await client.post(f"/api/v1/notices/{n['id']}/objections", headers=a.headers,
                           json={"text": "楼道照片见附件"})).json()
    url = f"/api/v1/objections/{o['id']}/photos"
    r = await client.post(url, headers=a.headers, files=[("photos", ("p.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    assert photo["mime"] == "image/jpeg" and photo["url"].endswith(photo["id"])
    # someone else cannot add photos to it; not a picture → 422
    r = await client.post(url, headers=b.headers, files=[("photos", ("p.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 403
    r = await client.post(url, headers=a.headers, files=[("photos", ("p.jpg", PDF, "image/jpeg"))])
    assert r.status_code == 422
    r = await client.post(url, headers=a.headers,
                          files=[("photos", (f"{i}.jpg", jpeg_with_gps(), "image/jpeg")) for i in range(9)])
    assert r.status_code == 422 and r.json()["code"] == "objection.photo_count"
    # who sees the photo: the filer and staff now; others once it is answered
    assert (await client.get(photo["url"], headers=a.headers)).status_code == 200
    assert (await client.get(photo["url"], headers=world.staff)).status_code == 200
    assert (await client.get(photo["url"], headers=b.headers)).status_code == 404
    r = await client.get(f"/api/v1/notices/{n['id']}/objections", headers=world.staff)
    assert len(r.json()["items"][0]["photos"]) == 1
    await client.post(f"/api/v1/objections/{o['id']}/resolution", headers=world.staff,
                      json={"decision": "rejected", "reason": "已核实"})
    r = await client.get(photo["url"], headers=b.headers)
    assert r.status_code == 200 and b"PhoneMaker" not in r.content
    r = await client.post(url, headers=a.headers, files=[("photos", ("p.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 409 and r.json()["code"] == "objection.already_resolved"


async def test_objection_answered_while_its_photos_are_processed(client, world, app, settings, monkeypatch) -> None:
    from tests.media.hooks import orphan_blobs, scratch_files, while_processing

    n = await notice(client, world)
    a = world.residents[0]
    o = (await client.post(f"/api/v1/notices/{n['id']}/objections", headers=a.headers,
                           json={"text": "楼道照片见附件"})).json()
    answered = while_processing(monkeypatch, lambda: client.post(
        f"/api/v1/objections/{o['id']}/resolution", headers=world.staff,
        json={"decision": "rejected", "reason": "已核实"}))
    r = await client.post(f"/api/v1/objections/{o['id']}/photos", headers=a.headers,
                          files=[("photos", ("p.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert answered[0].status_code == 200, answered[0].text
    assert r.status_code == 409 and r.json()["code"] == "objection.already_resolved"
    r = await client.get(f"/api/v1/notices/{n['id']}/objections", headers=world.staff)
    assert r.json()["items"][0]["photos"] == []
    assert await orphan_blobs(app, settings.media_dir) == set() and scratch_files(settings.media_dir) == []


async def test_notice_failed_while_attachments_are_processed(client, world, app, settings, monkeypatch) -> None:
    from tests.media.hooks import orphan_blobs, scratch_files, while_processing

    n = await notice(client, world)
    o = (await client.post(f"/api/v1/notices/{n['id']}/objections", headers=world.residents[0].headers,
                           json={"text": "方案有误"})).json()
    accepted = while_processing(monkeypatch, lambda: client.post(
        f"/api/v1/objections/{o['id']}/resolution", headers=world.staff,
        json={"decision": "accepted", "reason": "方案将修订后重新公示"}))
    r = await client.post(f"/api/v1/notices/{n['id']}/attachments", headers=world.staff, files=[
        ("files", ("改造方案.pdf", PDF, "application/pdf")),
        ("files", ("效果图.jpg", jpeg_with_gps(), "image/jpeg")),
    ])
    assert accepted[0].status_code == 200, accepted[0].text
    assert r.status_code == 409 and r.json()["code"] == "notice.closed"
    assert (await client.get(f"/api/v1/notices/{n['id']}", headers=world.staff)).json()["attachments"] == []
    assert await orphan_blobs(app, settings.media_dir) == set() and scratch_files(settings.media_dir) == []
