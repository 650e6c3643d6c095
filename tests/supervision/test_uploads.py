"""Photos are processed with no database transaction held; the write step checks again.

Something happens WHILE a photo is being processed (another request, run from the worker thread): it
must get through at once (on SQLite it needs the one writer connection), and when it changed what the
upload depended on, the upload is refused cleanly: the right 4xx, no media rows, no files in storage.
"""

from __future__ import annotations

from tests.media.hooks import orphan_blobs, scratch_files, stored_blobs, while_processing
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import appoint, counts, file_report, photo_files, project_with_people
from tests.supervision.test_reports import act


async def _assigned_report(client, world, p) -> str:
    rid = (await file_report(client, p.id, p.supervisor, phone_jpeg())).json()["id"]
    assert (await act(client, rid, world.staff, "acknowledge")).status_code == 200
    r = await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id, due_date="2026-11-30")
    assert r.status_code == 200, r.text
    return rid


async def test_reassigned_while_after_photos_are_processed(client, world, app, settings, monkeypatch) -> None:
    p = await project_with_people(client, world)
    other_id, _ = await appoint(client, world, p.id, "contractors", "con2", organization="另一家施工单位")
    rid = await _assigned_report(client, world, p)
    before, blobs = await counts(app), stored_blobs(settings.media_dir)
    reassigned = while_processing(monkeypatch, lambda: act(client, rid, world.staff, "assign", assignee_id=other_id,
                                                           due_date="2026-12-02"))
    r = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.contractor,
                          files=photo_files(phone_jpeg(color=(0, 0, 250)), phone_jpeg(color=(0, 250, 0))))
    assert reassigned[0].status_code == 200 and reassigned[0].json()["assignee_id"] == other_id
    assert r.status_code == 404  # a contractor sees only the reports assigned to them
    assert await counts(app) == before
    assert stored_blobs(settings.media_dir) == blobs and scratch_files(settings.media_dir) == []
    assert await orphan_blobs(app, settings.media_dir) == set()
    report = (await client.get(f"/api/v1/reports/{rid}", headers=world.staff)).json()
    assert report["after_photos"] == [] and report["assignee_id"] == other_id


async def test_rectified_while_more_photos_are_processed(client, world, app, settings, monkeypatch) -> None:
    p = await project_with_people(client, world)
    rid = await _assigned_report(client, world, p)
    first = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.contractor, files=photo_files(phone_jpeg()))
    assert first.status_code == 201, first.text
    before, blobs = await counts(app), stored_blobs(settings.media_dir)
    rectified = while_processing(monkeypatch, lambda: act(client, rid, p.contractor, "rectify",
                                                          photo_ids=[first.json()[0]["id"]]))
    r = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.contractor | {"Idempotency-Key": "after-2"},
                          files=photo_files(phone_jpeg(color=(9, 9, 9))))
    assert rectified[0].status_code == 200 and rectified[0].json()["status"] == "rectified"
    assert r.status_code == 409 and r.json()["code"] == "report.invalid_transition"
    assert r.json()["status_now"] == "rectified"
    assert await counts(app) == before
    assert stored_blobs(settings.media_dir) == blobs and scratch_files(settings.media_dir) == []
    assert await orphan_blobs(app, settings.media_dir) == set()
    # the refused request left no idempotency claim: a retry runs again (and is refused again)
    r = await client.post(f"/api/v1/reports/{rid}/photos", headers=p.contractor | {"Idempotency-Key": "after-2"},
                          files=photo_files(phone_jpeg(color=(9, 9, 9))))
    assert r.status_code == 409 and r.json()["code"] == "report.invalid_transition"


async def test_other_writes_go_through_while_report_photos_are_processed(client, world, app, settings,
                                                                         monkeypatch) -> None:
    p = await project_with_people(client, world)
    earlier = (await file_report(client, p.id, p.supervisor, phone_jpeg())).json()["id"]
    acknowledged = while_processing(monkeypatch, lambda: act(client, earlier, world.staff, "acknowledge"))
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(color=(1, 200, 1)), phone_jpeg(color=(1, 1, 200)))
    assert acknowledged[0].status_code == 200 and acknowledged[0].json()["status"] == "acknowledged"
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["photo_count"] == 2
    # both photos and their thumbnails reached storage and are served
    for ph in report["photos"]:
        assert (await client.get(ph["url"], headers=p.supervisor)).status_code == 200
        assert (await client.get(ph["thumbnail_url"], headers=p.supervisor)).status_code == 200
    assert scratch_files(settings.media_dir) == [] and await orphan_blobs(app, settings.media_dir) == set()


async def test_acceptance_photos_are_checked_again(client, world, app, settings, monkeypatch) -> None:
    p = await project_with_people(client, world)
    r = await client.post(f"/api/v1/projects/{p.id}/acceptance", headers=world.staff,
                          json={"representatives": [{"name": "张三"}]})
    assert r.status_code == 201, r.text
    before, blobs = await counts(app), stored_blobs(settings.media_dir)
    # 45 after-photos at most: fill up to 44 while this request's 2 photos are processed
    from app.supervision.service import MAX_AFTER_PHOTOS

    async def fill() -> None:
        for _ in range((MAX_AFTER_PHOTOS - 1) // 9):
            r = await client.post(f"/api/v1/projects/{p.id}/acceptance/photos", headers=world.staff,
                                  files=photo_files(*[phone_jpeg(color=(i * 25, 3, 3)) for i in range(9)]))
            assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/projects/{p.id}/acceptance/photos", headers=world.staff,
                              files=photo_files(*[phone_jpeg(color=(i * 25, 99, 99))
                                                  for i in range((MAX_AFTER_PHOTOS - 1) % 9)]))
        assert r.status_code == 200, r.text

    filled = while_processing(monkeypatch, fill)
    r = await client.post(f"/api/v1/projects/{p.id}/acceptance/photos", headers=world.staff,
                          files=photo_files(phone_jpeg(color=(7, 200, 7)), phone_jpeg(color=(8, 8, 200))))
    assert filled == [None]
    assert r.status_code == 422 and r.json()["code"] == "report.too_many_photos"
    assert (await counts(app))[0] == before[0] + MAX_AFTER_PHOTOS - 1
    assert stored_blobs(settings.media_dir) > blobs and await orphan_blobs(app, settings.media_dir) == set()
    assert scratch_files(settings.media_dir) == []
