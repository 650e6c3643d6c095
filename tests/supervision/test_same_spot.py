"""Same-spot after-photos: a rectification whose photos were taken away from the report's GPS is marked
``location_unverified`` for the verifier, never refused; without GPS on either side it is ``no_gps``.

The phone JPEGs carry EXIF GPS; one arc-second of latitude is 30.9 m, so 36°06'16" is 31 m and 36°06'17" is
62 m from the report's 36°06'15" (36.104167), against the default 50 m.
"""

from __future__ import annotations

from tests.media.imaging import GPS_LAT, phone_jpeg
from tests.supervision.helpers import act, file_report, photo_files, project_with_people

API = "/api/v1"


def _lat(seconds: int) -> tuple:
    return GPS_LAT[:2] + ((seconds, 1),)


async def _rectified(client, world, p, after: bytes, **fields) -> dict:
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), **fields)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await act(client, rid, world.staff, "acknowledge")).status_code == 200
    assert (await act(client, rid, world.staff, "assign", assignee_id=p.contractor_id)).status_code == 200
    up = await client.post(f"{API}/reports/{rid}/photos", headers=p.contractor, files=photo_files(after))
    assert up.status_code == 201, up.text
    r = await act(client, rid, p.contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert r.status_code == 200, r.text
    return r.json()


async def test_after_photos_near_far_and_without_gps(client, world) -> None:
    p = await project_with_people(client, world)
    here = {"gps_lat": "36.104167", "gps_lon": "120.468333"}
    near = await _rectified(client, world, p, phone_jpeg(lat=_lat(16)), **here)
    assert (near["status"], near["location_check"], near["location_distance_m"]) == ("rectified", "same_spot", 31)
    far = await _rectified(client, world, p, phone_jpeg(lat=_lat(17)), **here)
    assert (far["status"], far["location_check"], far["location_distance_m"]) == ("rectified", "location_unverified", 62)
    assert far["events"][-1]["data"] | {"photo_ids": None} == {
        "photo_ids": None, "location_check": "location_unverified", "distance_m": 62, "threshold_m": 50}
    assert "verify" in (await client.get(f"{API}/reports/{far['id']}", headers=p.supervisor)).json()["actions"]
    # no form GPS: the report's photos' EXIF is its spot
    from_exif = await _rectified(client, world, p, phone_jpeg(lat=_lat(17)))
    assert (from_exif["location_check"], from_exif["location_distance_m"]) == ("location_unverified", 62)
    none = await _rectified(client, world, p, phone_jpeg(lat=None), **here)
    assert (none["location_check"], none["location_distance_m"]) == ("no_gps", None)
    # the list shows the mark too
    items = (await client.get(f"{API}/projects/{p.id}/reports", headers=world.staff)).json()["items"]
    assert {i["id"]: i["location_check"] for i in items} == {
        near["id"]: "same_spot", far["id"]: "location_unverified", from_exif["id"]: "location_unverified",
        none["id"]: "no_gps"}


async def test_the_profile_distance_decides(client, world) -> None:
    p = await project_with_people(client, world)
    jurisdiction = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                         json=jurisdiction["profile"] | {"same_spot_distance_m": 62})
    assert r.status_code == 200, r.text
    done = await _rectified(client, world, p, phone_jpeg(lat=_lat(17)), gps_lat="36.104167", gps_lon="120.468333")
    assert (done["location_check"], done["location_distance_m"]) == ("same_spot", 62)
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                         json=jurisdiction["profile"] | {"same_spot_distance_m": 0})
    assert r.status_code == 422


async def test_a_new_round_clears_the_last_check(client, world) -> None:
    """``reject`` (failed verification) and ``reopen`` start a new rectification round: the same-spot check of
    the last one is cleared (the report, its list row and the project's figures), and the next ``rectify``
    sets it again."""
    p = await project_with_people(client, world)
    far = await _rectified(client, world, p, phone_jpeg(lat=_lat(17)), gps_lat="36.104167", gps_lon="120.468333")
    rid = far["id"]
    assert (far["location_check"], far["location_distance_m"]) == ("location_unverified", 62)

    async def figures() -> int:
        r = await client.get(f"{API}/projects/{p.id}/supervision-stats", headers=world.staff)
        return r.json()["rectification"]["location_unverified"]

    assert await figures() == 1
    r = await act(client, rid, p.supervisor, "reject", note="不是同一处")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["location_check"], r.json()["location_distance_m"]) == ("rectifying", None, None)
    items = (await client.get(f"{API}/projects/{p.id}/reports", headers=world.staff)).json()["items"]
    assert [i["location_check"] for i in items if i["id"] == rid] == [None]
    assert await figures() == 0

    up = await client.post(f"{API}/reports/{rid}/photos", headers=p.contractor, files=photo_files(phone_jpeg(lat=_lat(16))))
    assert up.status_code == 201, up.text
    r = await act(client, rid, p.contractor, "rectify", photo_ids=[up.json()[0]["id"]])
    assert (r.json()["location_check"], r.json()["location_distance_m"]) == ("same_spot", 31)
    assert (await act(client, rid, p.supervisor, "verify")).status_code == 200
    for to in ("rectifying", "acknowledged"):
        r = await act(client, rid, world.staff, "reopen", to=to, note="又渗水")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["location_check"], r.json()["location_distance_m"]) == (to, None, None)
        if to == "rectifying":  # back to verified for the second reopening
            up = await client.post(f"{API}/reports/{rid}/photos", headers=p.contractor,
                                   files=photo_files(phone_jpeg(lat=_lat(16))))
            r = await act(client, rid, p.contractor, "rectify", photo_ids=[up.json()[0]["id"]])
            assert r.json()["location_check"] == "same_spot"
            assert (await act(client, rid, p.supervisor, "verify")).status_code == 200
    # the events keep each round's check
    events = (await client.get(f"{API}/reports/{rid}", headers=world.staff)).json()["events"]
    assert [e["data"]["location_check"] for e in events if e["action"] == "rectify"] == [
        "location_unverified", "same_spot", "same_spot"]
