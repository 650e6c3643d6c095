"""Photos through HTTP: real Pillow bytes, checked by content, EXIF stripped from what is served."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.media.imaging import huge_png, noisy_jpeg, phone_jpeg, png_bytes, webp_bytes
from tests.supervision.helpers import counts, file_report, photo_files, project_with_people


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_served_photo_has_no_exif_but_staff_json_has_gps(client, world, app, settings) -> None:
    p = await project_with_people(client, world)
    original = phone_jpeg(64, 48, orientation=6)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the upload does carry GPS
    r = await file_report(client, p.id, p.supervisor, original)
    assert r.status_code == 201, r.text
    report = r.json()
    photo = report["photos"][0]
    # the supervisor's (non-staff) view: no taken-at, no GPS keys at all
    assert "gps_lat" not in photo and "taken_at" not in photo
    served = await client.get(photo["url"], headers=p.supervisor)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["cache-control"] == "private"
    assert served.headers["x-content-type-options"] == "nosniff"
    img = Image.open(io.BytesIO(served.content))
    assert img.format == "JPEG"
    exif = img.getexif()
    assert len(exif) == 0 and not exif.get_ifd(0x8825)
    assert b"secret comment" not in served.content and b"PhoneMaker" not in served.content
    assert "comment" not in img.info and "exif" not in img.info
    # orientation 6 (rotate 90° clockwise) applied: 64x48 became 48x64, and the blue marker moved
    assert img.size == (48, 64)
    assert photo["width"] == 48 and photo["height"] == 64
    px = img.convert("RGB").getpixel((46, 2))
    assert px[2] > 150 and px[0] < 100
    # the staff view keeps when and where it was taken
    staff = (await client.get(f"/api/v1/reports/{report['id']}", headers=world.staff)).json()["photos"][0]
    assert staff["gps_lat"] == "36.104167" and staff["gps_lon"] == "120.468333"
    assert staff["taken_at"].startswith("2026-11-20T01:30:00")  # 09:30 +08:00 in UTC
    thumb = await client.get(photo["thumbnail_url"], headers=world.staff)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert len(Image.open(io.BytesIO(thumb.content)).getexif()) == 0


async def test_thumbnail_is_at_most_320px_and_formats_kept(client, world) -> None:
    p = await project_with_people(client, world)
    big = noisy_jpeg(900, 500)
    r = await file_report(client, p.id, p.supervisor, big)
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    thumb = await client.get(photo["thumbnail_url"], headers=p.supervisor)
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320
    full = await client.get(photo["url"], headers=p.supervisor)
    assert Image.open(io.BytesIO(full.content)).size == (900, 500)
    r = await client.post(f"/api/v1/projects/{p.id}/reports", headers=p.supervisor,
                          data={"catalog_item": "x", "severity": "minor", "description": "d"},
                          files=[("photos", ("a.png", png_bytes(), "image/png")),
                                 ("photos", ("b.webp", webp_bytes(), "image/webp"))])
    assert r.status_code == 201, r.text
    mimes = [ph["mime"] for ph in r.json()["photos"]]
    assert mimes == ["image/png", "image/webp"]
    got = await client.get(r.json()["photos"][1]["url"], headers=p.supervisor)
    assert got.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(got.content)).format == "WEBP"


async def test_bad_files_are_refused_and_nothing_is_stored(client, world, app, settings) -> None:
    p = await project_with_people(client, world)
    before = await counts(app)
    jpeg = noisy_jpeg()
    cases = [
        (b"", "media.empty", 422),
        (b"this is just some text, not a photo\n" * 20, "media.unsupported_type", 422),
        (huge_png(20_000, 20_000), "media.too_many_pixels", 422),
        (jpeg[: len(jpeg) // 2], "media.corrupt", 422),
        (b"GIF89a" + bytes(100), "media.unsupported_type", 422),
    ]
    for data, code, status in cases:
        # a good photo first: the bad second one must refuse the whole report
        r = await client.post(f"/api/v1/projects/{p.id}/reports", headers=p.supervisor,
                              data={"catalog_item": "x", "severity": "minor", "description": "d"},
                              files=photo_files(phone_jpeg()) + [("photos", ("photo.jpg", data, "image/jpeg"))])
        assert r.status_code == status, (code, r.text)
        assert r.json()["code"] == code
        assert r.json()["photo_index"] == 1
    assert await counts(app) == before
    # no temp files left behind
    assert _files_under(Path(settings.media_dir) / "tmp") == []


async def test_pixel_cap_from_settings(client, world, settings) -> None:
    p = await project_with_people(client, world)
    settings.photo_max_pixels = 100 * 100
    r = await file_report(client, p.id, p.supervisor, png_bytes(101, 100))
    assert r.status_code == 422 and r.json()["code"] == "media.too_many_pixels"
    r = await file_report(client, p.id, p.supervisor, png_bytes(100, 100))
    assert r.status_code == 201, r.text


async def test_size_cap(client, world, app, settings) -> None:
    p = await project_with_people(client, world)
    settings.photo_max_bytes = 50_000
    big = noisy_jpeg()
    assert len(big) > 50_000
    before = await counts(app)
    r = await file_report(client, p.id, p.supervisor, big)
    assert r.status_code == 413 and r.json()["code"] == "media.too_large"
    assert await counts(app) == before
    assert _files_under(Path(settings.media_dir) / "tmp") == []


async def test_client_filename_is_never_used(client, world, settings, tmp_path) -> None:
    p = await project_with_people(client, world)
    r = await client.post(f"/api/v1/projects/{p.id}/reports", headers=p.supervisor,
                          data={"catalog_item": "x", "severity": "minor", "description": "d"},
                          files=[("photos", ("../../../evil.jpg", phone_jpeg(), "image/jpeg")),
                                 ("photos", ("..\\..\\evil2.jpg", png_bytes(), "text/plain"))])
    assert r.status_code == 201, r.text
    root = Path(settings.media_dir)
    stored = _files_under(root)
    assert stored and all(len(f.name) == 64 and f.parent.parent.parent == root for f in stored), stored
    assert not list(tmp_path.rglob("evil*")) and not list(root.parent.rglob("evil*"))
    # the declared content type is ignored: the PNG sent as text/plain is served as a PNG
    got = await client.get(r.json()["photos"][1]["url"], headers=p.supervisor)
    assert got.headers["content-type"] == "image/png"


async def test_storage_is_content_addressed_and_idempotent(client, world, settings) -> None:
    p = await project_with_people(client, world)
    img = phone_jpeg()
    r1 = await file_report(client, p.id, p.supervisor, img)
    r2 = await file_report(client, p.id, p.supervisor, img)
    assert r1.status_code == r2.status_code == 201
    root = Path(settings.media_dir)
    files = [f for f in _files_under(root) if f.relative_to(root).parts[0] != "tmp"]
    assert len(files) == 1  # same served bytes, thumbnail identical for a small image: one blob


async def test_photos_need_sign_in_and_unknown_ids_are_404(client, world) -> None:
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg())
    url = r.json()["photos"][0]["url"]
    assert (await client.get(url)).status_code == 401
    assert (await client.get("/api/v1/photos/nope", headers=world.staff)).status_code == 404
    assert (await client.get("/api/v1/photos/" + "x" * 300, headers=world.staff)).status_code == 404
