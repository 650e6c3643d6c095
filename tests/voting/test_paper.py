"""Paper ballots from the committee tablet: a photo of the signed slip, channel paper, retries with an
Idempotency-Key, and a later online ballot replacing a paper one."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from tests.voting.helpers import API, jpeg, paper, setup_motion, tally, vote


async def test_paper_ballot_with_photo(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    hid = world.household("2", "2", "201")["id"]  # nobody activated it: an elderly owner without a phone
    r = await paper(client, world, m["id"], hid, "agree", photo=jpeg())
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["channel"] == "paper" and b["household_id"] == hid and b["version"] == 1 and b["receipt"]
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff, params={"channel": "paper"})).json()
    entry = h["items"][0]
    assert entry["ballot_id"] == b["ballot_id"] and entry["actor_id"] == world.staff_user_id
    assert entry["has_photo"] is True and entry["room"] == "201" and entry["choice"] is None
    # staff fetch the slip; it is a real image with its metadata stripped
    r = await client.get(entry["photo_url"], headers=world.staff)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    # the stored version's sha256 is on the ballot's audit entry
    assert (await client.get(entry["photo_url"], headers=world.residents[0].headers)).status_code == 403
    r = await client.get(f"{API}/motions/{m['id']}/paper-ballots/{'x' * 32}/photo", headers=world.staff)
    assert r.status_code == 404
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["counts"]["agree_households"] == 1
    # residents cannot enter paper ballots
    r = await client.post(f"{API}/motions/{m['id']}/paper-ballots", headers=world.residents[0].headers,
                          data={"household_id": hid, "choice": "agree"},
                          files={"photo": ("s.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 403


async def test_paper_ballot_needs_a_real_photo_and_a_household_in_scope(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    hid = world.household("2", "2", "201")["id"]
    r = await paper(client, world, m["id"], hid, "agree")
    assert r.status_code == 422 and r.json()["code"] == "ballot.photo_required"
    r = await client.post(f"{API}/motions/{m['id']}/paper-ballots", headers=world.staff,
                          files={"photo": ("s.txt", b"not an image at all", "image/jpeg")},
                          data={"household_id": hid, "choice": "agree"})
    assert r.status_code == 422 and r.json()["code"] == "media.unsupported_type"
    r = await paper(client, world, m["id"], hid, "maybe", photo=jpeg())
    assert r.status_code == 422
    r = await paper(client, world, m["id"], "q" * 32, "agree", photo=jpeg())
    assert r.status_code == 404 and r.json()["code"] == "ballot.household_not_in_scope"
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()
    assert h["items"] == []


async def test_tablet_retries_are_idempotent(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    hid = world.household("2", "2", "102")["id"]
    photo = jpeg((200, 210, 220))
    r1 = await paper(client, world, m["id"], hid, "disagree", photo=photo, key="slip-0042")
    r2 = await paper(client, world, m["id"], hid, "disagree", photo=photo, key="slip-0042")
    assert r1.status_code == 201 and r2.status_code == 201
    assert r2.json() == r1.json() and r2.headers.get("idempotent-replayed") == "true"
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()["items"]
    assert len(h) == 1
    # same key, another body (other choice; or another photo): refused
    r = await paper(client, world, m["id"], hid, "agree", photo=photo, key="slip-0042")
    assert r.status_code == 409 and r.json()["code"] == "idempotency.key_reused"
    r = await paper(client, world, m["id"], hid, "disagree", photo=jpeg((10, 200, 10)), key="slip-0042")
    assert r.status_code == 409 and r.json()["code"] == "idempotency.key_reused"
    assert len((await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()["items"]) == 1


async def test_online_after_paper_latest_wins(client, world, clock, app) -> None:
    _, _, m = await setup_motion(client, world, clock.now())
    me = world.residents[2]
    photo = jpeg()
    r = await paper(client, world, m["id"], me.household_id, "disagree", photo=photo)
    assert r.status_code == 201
    paper_receipt = r.json()["receipt"]
    clock.advance(minutes=3)
    r = await vote(client, me.headers, m["id"], "agree")
    assert r.status_code == 200 and r.json()["version"] == 2
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()["items"]
    assert [(x["channel"], x["current"], x["version"]) for x in h] == [("paper", False, 1), ("online", True, 2)]
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["counts"]["agree_households"] == 1 and t["counts"]["disagree_households"] == 0
    r = await client.get(f"{API}/ballot-receipts/{paper_receipt}", headers=me.headers)
    assert r.json()["channel"] == "paper" and r.json()["status"] == "superseded" and r.json()["choice"] == "disagree"
    # then paper again (the latest wins whatever the channel)
    clock.advance(minutes=3)
    assert (await paper(client, world, m["id"], me.household_id, "abstain", photo=jpeg((1, 2, 3)))).status_code == 201
    t = (await tally(client, world.staff, m["id"])).json()
    assert t["counts"]["abstain_households"] == 1 and t["counts"]["agree_households"] == 0
    # the audit entry of the paper ballot names the stored photo
    from sqlalchemy import text

    async with app.state.db.read_session() as s:
        rows = (await s.exec(text("SELECT action, data FROM audit_entry WHERE action LIKE 'ballot.%' ORDER BY seq"))).all()
    assert [a for a, _ in rows] == ["ballot.paper_entered", "ballot.cast", "ballot.paper_entered"]
    import json

    data = [json.loads(d) if isinstance(d, str) else d for _, d in rows]
    assert all(len(d["photo_sha256"]) == 64 for d in (data[0], data[2])) and data[1]["photo_sha256"] is None
    assert all("choice" not in d for d in data)
    assert hashlib.sha256(b"").hexdigest() not in {d["photo_sha256"] for d in data}


async def test_motion_closed_while_the_slip_photo_is_processed(client, world, clock, app, settings,
                                                               monkeypatch) -> None:
    from tests.media.hooks import orphan_blobs, scratch_files, while_processing

    _, _, m = await setup_motion(client, world, clock.now())
    hid = world.household("2", "2", "201")["id"]
    clock.advance(minutes=1)
    closed = while_processing(monkeypatch, lambda: client.post(f"{API}/motions/{m['id']}/close", headers=world.staff))
    r = await paper(client, world, m["id"], hid, "agree", photo=jpeg(), key="slip-late")
    assert closed[0].status_code == 200, closed[0].text
    assert r.status_code == 409 and r.json()["code"] == "ballot.window_closed"
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()
    assert h["items"] == []
    assert await orphan_blobs(app, settings.media_dir) == set() and scratch_files(settings.media_dir) == []
