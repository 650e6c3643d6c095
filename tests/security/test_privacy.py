"""Privacy: what each role is served.

* ``owner_key`` (the salted owner hash, or the raw key of the import file) is never served, to anyone.
* Phones are masked in every view except a person's own and the staff's roster of supervisors/contractors;
  the non-responder list for staff masks them too.
* Photos are served re-encoded without EXIF (no GPS, no camera, no comment); taken-at and GPS appear only
  in the staff's JSON.
* A ballot's choice is shown only to the household; staff see per-household choices only where the rules
  profile says ``staff_see_choices`` (never for a motion opened under a profile that did not).
* A pending objection and its photos are seen only by the filer and staff.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import httpx
from PIL import Image
from pypdf import PdfReader
from sqlmodel import select

from app.core.privacy import mask_phone
from app.register.models import Household
from tests.security.calls import REQUESTS, call
from tests.security.world import (
    ADMIN,
    ANON,
    API,
    CON,
    CONTRACTOR_PHONE,
    RES_A,
    RES_B,
    RESIDENT_B_PHONE,
    RESIDENT_PHONES,
    ROLES,
    STAFF_A,
    SUP,
    SUPERVISOR_PHONE,
    SecWorld,
)
from tests.voting.helpers import make_motion, make_plan, make_project, vote

OWN_PHONE = {RES_A: RESIDENT_PHONES[0], RES_B: RESIDENT_B_PHONE, SUP: SUPERVISOR_PHONE, CON: CONTRACTOR_PHONE}
# names of residents (the factories' 居民1..4 of A, B's resident) and of the acceptance representative
OWN_NAME = {RES_A: "居民1", RES_B: "外小区居民"}
OTHER_NAMES = {"居民1", "居民2", "居民3", "居民4", "外小区居民", "张三丰"}
ALL_PHONES = set(RESIDENT_PHONES) | {RESIDENT_B_PHONE, SUPERVISOR_PHONE, CONTRACTOR_PHONE}
GPS_IFD = 0x8825


async def _served(client: httpx.AsyncClient, w: SecWorld) -> list[tuple[str, str, httpx.Response]]:
    """Every GET the app serves, as every role, in the security world; plus the variants of a few (XLSX
    sheet, thumbnails, published results after close). Only the 200s are returned: what was served."""
    staff, res_a = w.headers[STAFF_A], w.headers[RES_A]
    # something closed, so that residents are served results, the tally and the vote-result notice
    qid, mid = w.ids["q_close"], w.ids["m_close"]
    r = await client.put(f"{API}/questionnaires/{qid}/response", headers=res_a,
                         json={"answers": [{"question_id": w.ids["question_id"], "value": False}]})
    assert r.status_code == 200, r.text
    r = await client.put(f"{API}/motions/{mid}/ballot", headers=res_a, json={"choice": "disagree"})
    assert r.status_code == 200, r.text
    assert (await client.post(f"{API}/questionnaires/{qid}/close", headers=staff)).status_code == 200
    assert (await client.post(f"{API}/motions/{mid}/close", headers=staff)).status_code == 200
    r = await client.post(f"{API}/projects/{w.ids['project_id']}/acceptance", headers=staff, json={
        "remarks": "验收合格", "satisfaction_survey": False,
        "representatives": [{"name": "张三丰", "household_id": w.ids["household_id"]}]})
    assert r.status_code == 201, r.text

    out: list[tuple[str, str, httpx.Response]] = []
    gets = [k for k in REQUESTS if k.startswith("GET ")]
    for key in gets:
        for role in ROLES:
            r = await call(client, w, key, role)
            if r.status_code == 200:
                out.append((key, role, r))
    extra = [
        f"{API}/questionnaires/{w.ids['questionnaire_id']}/non-responders?format=xlsx",
        f"{API}/motions/{w.ids['motion_id']}/non-responders?format=xlsx",
        f"{API}/questionnaires/{qid}/results", f"{API}/motions/{mid}/tally",
        f"{API}/questionnaires/{qid}/roll?format=csv", f"{API}/questionnaires/{qid}/roll?format=xlsx",
        f"{API}/questionnaires/{qid}/evidence.zip",
        f"{API}/notices/{w.ids['notice_id']}/attachments/{w.ids['attachment_id']}?thumbnail=true",
        f"{API}/objections/{w.ids['objection_id']}/photos/{w.ids['objection_photo_id']}?thumbnail=true",
    ]
    for url in extra:
        for role in ROLES:
            r = await client.get(url, headers=w.headers[role])
            if r.status_code == 200:
                out.append((f"GET {url}", role, r))
    # every GET route was served to someone (a walk that saw only errors would prove nothing)
    seen = {k for k, _, _ in out}
    # (WeChat's push URL and signed photo URL answer only WeChat's signature: tests/content serves them)
    assert set(gets) <= seen | {"GET /api/v1/motions/{motion_id}/choices", "GET /api/v1/wechat/events",
                                "GET /api/v1/wechat/media/{media_id}"}, set(gets) - seen
    return out


def _texts(r: httpx.Response) -> list[str]:
    """The response as searchable text: JSON and text bodies, the XML parts of an XLSX, the text of a PDF."""
    ctype = r.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            return [z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml")]
    if ctype.startswith("application/pdf"):  # printed documents: their text
        return [page.extract_text() or "" for page in PdfReader(io.BytesIO(r.content)).pages]
    if ctype.startswith("image/"):
        return []
    return [r.content.decode("utf-8-sig", "replace")]


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


async def test_owner_key_never_served_and_phones_masked_everywhere(app, client, sec_world) -> None:
    w = sec_world
    async with app.state.db.read_session() as s:
        hashes = set((await s.exec(select(Household.owner_key))).all())
    assert len(hashes) >= 10  # A's 12 households (three share OWNER-A) and B's two
    secrets = hashes | {"OWNER-A", "OWNER-B"}
    served = await _served(client, w)
    problems: list[str] = []
    for key, role, r in served:
        if "json" in r.headers.get("content-type", ""):
            if "owner_key" in _keys(r.json()):
                problems.append(f"{key} as {role}: a field named owner_key")
        allowed_phones = {OWN_PHONE.get(role)}
        if role in (STAFF_A, ADMIN):
            allowed_phones |= {SUPERVISOR_PHONE, CONTRACTOR_PHONE}  # the staff's roster shows them in full
        for text in _texts(r):
            problems += [f"{key} as {role}: serves an owner key" for s in secrets if s in text]
            problems += [f"{key} as {role}: serves phone {p} unmasked" for p in ALL_PHONES - allowed_phones
                         if p in text]
            if role not in (STAFF_A, ADMIN):  # other residents' and representatives' names: staff only
                problems += [f"{key} as {role}: serves the name {n}" for n in OTHER_NAMES - {OWN_NAME.get(role)}
                             if n in text]
    assert not problems, "\n".join(sorted(set(problems)))

    # the masked forms are what is shown: the roster to residents, non-responders' members to staff
    roster = {role: r for key, role, r in served if key == "GET /api/v1/projects/{project_id}/supervisors"}
    assert {a["phone"] for a in roster[RES_A].json()} == {mask_phone(SUPERVISOR_PHONE)} == {"139****2222"}
    assert {a["phone"] for a in roster[SUP].json()} == {mask_phone(SUPERVISOR_PHONE)}
    assert {a["phone"] for a in roster[STAFF_A].json()} == {SUPERVISOR_PHONE}
    absent = next(r for key, role, r in served
                  if key == "GET /api/v1/questionnaires/{questionnaire_id}/non-responders" and role == STAFF_A)
    phones = {m["phone"] for b in absent.json()["buildings"] for u in b["units"] for h in u["households"]
              for m in h["members"]}
    assert {mask_phone(p) for p in RESIDENT_PHONES[1:]} <= phones  # residents 2-4 have not answered
    assert not phones & ALL_PHONES


def _assert_no_metadata(data: bytes, what: str) -> None:
    img = Image.open(io.BytesIO(data))
    img.load()
    exif = img.getexif()
    assert not exif.get_ifd(GPS_IFD), f"{what}: GPS served"
    assert len(exif) == 0, f"{what}: EXIF served {dict(exif)}"
    for marker in (b"PhoneMaker", b"secret comment", b"GPS"):
        assert marker not in data, f"{what}: {marker!r} in the served bytes"


async def test_photos_served_without_exif_gps_for_staff_only_in_json(client, sec_world) -> None:
    """Every photo of the world was uploaded as a phone JPEG with EXIF GPS, camera and a comment."""
    w = sec_world
    photo_routes = [
        "GET /api/v1/photos/{photo_id}", "GET /api/v1/photos/{photo_id}/thumbnail",
        "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/photo",
        "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/authorisation",
        "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/photo",
        "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/authorisation",
        "GET /api/v1/notices/{notice_id}/attachments/{media_id}",
        "GET /api/v1/objections/{objection_id}/photos/{media_id}",
    ]
    checked = 0
    for key in photo_routes:
        for role in ROLES:
            r = await call(client, w, key, role)
            if r.status_code == 200:
                assert r.headers["content-type"].startswith("image/"), key
                _assert_no_metadata(r.content, f"{key} as {role}")
                checked += 1
    for url in (f"{API}/notices/{w.ids['notice_id']}/attachments/{w.ids['attachment_id']}?thumbnail=true",
                f"{API}/objections/{w.ids['objection_id']}/photos/{w.ids['objection_photo_id']}?thumbnail=true"):
        r = await client.get(url, headers=w.headers[RES_A])
        assert r.status_code == 200
        _assert_no_metadata(r.content, url)
        checked += 1
    assert checked >= 20

    # taken-at and GPS from the EXIF: in the staff's JSON only
    url = f"{API}/reports/{w.ids['report_id']}"
    for role in (STAFF_A, ADMIN):
        photo = (await client.get(url, headers=w.headers[role])).json()["photos"][0]
        assert (photo["gps_lat"], photo["gps_lon"]) == ("36.104167", "120.468333"), role
        assert photo["taken_at"] is not None
    for role in (SUP, CON):
        r = await client.get(url, headers=w.headers[role])
        assert r.status_code == 200
        for photo in r.json()["photos"]:
            assert not {"gps_lat", "gps_lon", "taken_at"} & set(photo), role


async def test_ballot_choice_only_for_the_household(client, world, clock) -> None:
    now = clock.now()
    owner, neighbour = world.residents[0], world.residents[1]
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now)
    r = await vote(client, owner.headers, m["id"], "agree")
    assert r.status_code == 200, r.text
    receipt = r.json()["receipt"]

    async def receipt_choice(headers: dict) -> Any:
        r = await client.get(f"{API}/ballot-receipts/{receipt}", headers=headers)
        assert r.status_code == 200, r.text
        return r.json().get("choice")

    assert await receipt_choice(owner.headers) == "agree"
    for who in ({}, neighbour.headers, world.staff, world.admin):
        assert await receipt_choice(who) is None  # confirms the ballot, never the choice

    # staff (Laoshan: staff_see_choices false) see no household's choice anywhere
    r = await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)
    assert r.status_code == 200 and r.json()["items"]
    assert all(b["choice"] is None for b in r.json()["items"])
    r = await client.get(f"{API}/motions/{m['id']}/choices", headers=world.staff)
    assert r.status_code == 403 and r.json()["code"] == "ballot.choices_private"
    r = await client.get(f"{API}/motions/{m['id']}/tally", headers=world.staff)
    assert r.status_code == 200 and r.json()["counts"]["agree_households"] >= 1
    assert not {"household_id", "choice", "households"} & _keys(r.json())  # aggregates only
    r = await client.get(f"{API}/motions/{m['id']}", headers=world.staff)
    assert "agree" not in json.dumps(r.json().get("my_households"))

    # a questionnaire's answers: the household sees them in its history, staff see who and when only
    q = (await client.post(f"{API}/projects/{pid}/questionnaires", headers=world.staff,
                           json={"kind": "willingness"})).json()
    assert (await client.post(f"{API}/questionnaires/{q['id']}/open", headers=world.staff)).status_code == 200
    qid, question = q["id"], q["questions"][0]["id"]
    r = await client.put(f"{API}/questionnaires/{qid}/response", headers=owner.headers,
                         json={"answers": [{"question_id": question, "value": False}]})
    assert r.status_code == 200, r.text
    url = f"{API}/questionnaires/{qid}/response/history"
    mine = (await client.get(url, headers=owner.headers)).json()["versions"]
    assert mine[0]["answers"] == [{"question_id": question, "value": False}]
    staff_view = await client.get(url, headers=world.staff, params={"household_id": owner.household_id})
    assert staff_view.status_code == 200 and [v["answers"] for v in staff_view.json()["versions"]] == [None]
    assert (await client.get(url, headers=neighbour.headers,
                             params={"household_id": owner.household_id})).status_code == 404

    # a profile that lets staff see choices: for motions opened under it, and only those
    r = await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    profile = r.json()["profile"] | {"staff_see_choices": True}
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200, r.text
    m2 = await make_motion(client, world, plan["id"], now + timedelta(seconds=1), title="第二次表决")
    clock.advance(seconds=2)
    assert (await vote(client, owner.headers, m2["id"], "agree")).status_code == 200
    r = await client.get(f"{API}/motions/{m2['id']}/ballots", headers=world.staff)
    assert [b["choice"] for b in r.json()["items"]] == ["agree"]
    r = await client.get(f"{API}/motions/{m2['id']}/choices", headers=world.staff)
    assert r.status_code == 200
    assert {h["household_id"]: h["choice"] for h in r.json()["items"]}[owner.household_id] == "agree"
    # the first motion opened under the private profile stays private
    r = await client.get(f"{API}/motions/{m['id']}/choices", headers=world.staff)
    assert r.status_code == 403
    # residents never see the staff lists
    assert (await client.get(f"{API}/motions/{m2['id']}/choices", headers=owner.headers)).status_code == 403


async def test_pending_objection_and_its_photos_only_for_filer_and_staff(client, sec_world) -> None:
    w = sec_world
    neighbour = w.a.residents[1].headers  # a resident of A who did not file it
    oid, photo = w.ids["objection_id"], w.ids["objection_photo_id"]
    r = await client.get(f"{API}/notices/{w.ids['notice_id']}/objections", headers=neighbour)
    assert r.status_code == 200 and oid not in {o["id"] for o in r.json()["items"]}
    # the photo of the pending objection, by its own route and by the generic photo route
    for url in (f"{API}/objections/{oid}/photos/{photo}", f"{API}/photos/{photo}",
                f"{API}/photos/{photo}/thumbnail"):
        assert (await client.get(url, headers=w.headers[RES_A])).status_code == 200, url  # the filer
        assert (await client.get(url, headers=w.headers[STAFF_A])).status_code == 200, url
        r = await client.get(url, headers=neighbour)
        assert r.status_code == 404, f"{url}: a pending objection's photo served to another resident"
    # once answered, everyone in the community sees it, without who filed it
    r = await client.post(f"{API}/objections/{oid}/resolution", headers=w.headers[STAFF_A],
                          json={"decision": "rejected", "reason": "经核实符合规范"})
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/notices/{w.ids['notice_id']}/objections", headers=neighbour)
    seen = {o["id"]: o for o in r.json()["items"]}[oid]
    assert seen["filed_by"] is None and seen["filed_by_name"] is None and seen["room"] is None
    assert seen["household_id"] is None
    assert (await client.get(f"{API}/photos/{photo}", headers=w.headers[ANON])).status_code == 401

