"""Every stored file goes out with the same headers (app/media/serving.py): sandbox CSP, nosniff, private
caching; images inline, PDFs as downloads. Checked on each route that serves stored files."""

from __future__ import annotations

from urllib.parse import quote

from tests.media.imaging import phone_jpeg
from tests.publicity.test_files import PDF, jpeg_with_gps, notice
from tests.supervision.helpers import file_report, project_with_people
from tests.voting.helpers import API, jpeg, paper, setup_motion

CSP = "default-src 'none'; sandbox"


def assert_safe_headers(r, *, kind: str, mime: str) -> str:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == mime
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "private"
    disposition = r.headers["content-disposition"]
    assert disposition.split(";")[0] == kind, disposition
    return disposition


async def test_pdf_attachment_is_a_download_and_images_inline(client, world) -> None:
    n = await notice(client, world)
    r = await client.post(f"/api/v1/notices/{n['id']}/attachments", headers=world.staff, files=[
        ("files", ("改造方案.pdf", PDF, "application/pdf")),
        ("files", ("效果图.jpg", jpeg_with_gps(), "image/jpeg")),
    ])
    assert r.status_code == 201, r.text
    pdf, image = r.json()["attachments"]
    resident = world.residents[0].headers
    disposition = assert_safe_headers(await client.get(pdf["url"], headers=resident), kind="attachment",
                                      mime="application/pdf")
    assert f'filename="{pdf["id"]}.pdf"' in disposition
    assert f"filename*=UTF-8''{quote('改造方案.pdf')}" in disposition
    assert_safe_headers(await client.get(image["url"], headers=resident), kind="inline", mime="image/jpeg")
    thumb = await client.get(image["thumbnail_url"], headers=resident)
    assert f'filename="{image["id"]}-thumb.jpg"' in assert_safe_headers(thumb, kind="inline", mime="image/jpeg")
    r = await client.get(pdf["url"] + "?thumbnail=true", headers=resident)
    assert r.status_code == 404 and r.json()["code"] == "media.no_thumbnail"


async def test_objection_photo_headers(client, world) -> None:
    n = await notice(client, world)
    a = world.residents[0]
    o = (await client.post(f"/api/v1/notices/{n['id']}/objections", headers=a.headers, json={"text": "见照片"})).json()
    r = await client.post(f"/api/v1/objections/{o['id']}/photos", headers=a.headers,
                          files=[("photos", ("p.jpg", jpeg_with_gps(), "image/jpeg"))])
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    assert_safe_headers(await client.get(photo["url"], headers=a.headers), kind="inline", mime="image/jpeg")
    r = await client.get(photo["url"] + "?thumbnail=true", headers=world.staff)
    assert_safe_headers(r, kind="inline", mime="image/jpeg")


async def test_report_photo_and_paper_ballot_photo_headers(client, world, clock) -> None:
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(64, 48))
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    assert_safe_headers(await client.get(photo["url"], headers=p.supervisor), kind="inline", mime="image/jpeg")
    r = await client.get(photo["thumbnail_url"], headers=world.staff)
    assert_safe_headers(r, kind="inline", mime="image/jpeg")

    _, _, m = await setup_motion(client, world, clock.now())
    r = await paper(client, world, m["id"], world.household("2", "2", "201")["id"], "agree", photo=jpeg())
    assert r.status_code == 201, r.text
    r = await client.get(f"{API}/motions/{m['id']}/paper-ballots/{r.json()['ballot_id']}/photo", headers=world.staff)
    assert_safe_headers(r, kind="inline", mime="image/jpeg")
