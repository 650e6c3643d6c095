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


async def _paper_as(client, headers: dict, motion_id: str, household_id: str, choice: str = "agree"):
    return await client.post(f"{API}/motions/{motion_id}/paper-ballots", headers=headers,
                             data={"household_id": household_id, "choice": choice},
                             files={"photo": ("slip.jpg", jpeg(), "image/jpeg")})


async def test_a_paper_ballot_refused_at_its_write_leaves_no_number_taken(app, client, world, clock,
                                                                          monkeypatch) -> None:
    """A paper ballot that counts at once begins its write with the motion's next number, as an online ballot
    does, and is authorized after it. With the checks before the photo answering yes to everything (as if the
    state changed while the photo was processed), each refusal of the write keeps its code and rolls the number,
    the ballots and the audit head back; the next accepted slip takes the next number."""
    from app.voting import service as voting_service
    from tests.voting.helpers import make_motion, make_plan, make_project, unit_ids
    from tests.voting.test_ballots import _ballot_marks

    async def counts_at_once(*args, **kwargs) -> bool:
        return True

    monkeypatch.setattr(voting_service, "check_paper_entry", counts_at_once)
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    owner = world.residents[0]
    _, unit = (await unit_ids(client, owner.headers))[owner.household_id]
    m = await make_motion(client, world, plan["id"], now, scope="unit", unit_id=unit)
    r = await _paper_as(client, world.staff, m["id"], owner.household_id)
    assert r.status_code == 201 and r.json()["status"] == "counted", r.text
    before = await _ballot_marks(app, m["id"], world.community_id)
    assert before[:2] == (1, 1)
    outside = None
    for resident in world.residents:
        if (await unit_ids(client, resident.headers))[resident.household_id][1] != unit:
            outside = resident.household_id
    assert outside is not None
    refused = [(owner.headers, owner.household_id, 403, "auth.forbidden"),
               (world.staff, outside, 404, "ballot.household_not_in_scope"),
               (world.staff, "no-such-household", 404, "ballot.household_not_in_scope")]
    for headers, hid, status, code in refused:
        r = await _paper_as(client, headers, m["id"], hid, "disagree")
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert await _ballot_marks(app, m["id"], world.community_id) == before
    r = await _paper_as(client, world.staff, m["id"], owner.household_id, "disagree")
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
    assert (await _ballot_marks(app, m["id"], world.community_id))[:2] == (2, 2)
    revised = await client.post(f"{API}/plans/{plan['id']}/revisions", headers=world.staff,
                                json={"title": "修订版", "items": [{"title": "屋面防水", "budget_fen": 1}]})
    assert revised.status_code == 201, revised.text
    marks = await _ballot_marks(app, m["id"], world.community_id)
    r = await _paper_as(client, world.staff, m["id"], owner.household_id)
    assert r.status_code == 409 and r.json()["code"] == "motion.plan_superseded", r.text
    assert await _ballot_marks(app, m["id"], world.community_id) == marks


async def test_a_slip_entered_twice_takes_no_number_when_the_checks_expected_otherwise(app, client, world, clock,
                                                                                       monkeypatch) -> None:
    """Should the checks before the photo find a paper ballot counting at once and the write find the motion's
    rules asking for double entry, the number the write took first is given back: the entry waits for its
    second clerk and the motion's number is where it was."""
    from app.voting import service as voting_service
    from tests.voting.test_ballots import _ballot_marks
    from tests.voting.test_paper_checked import double_entry_motion

    async def counts_at_once(*args, **kwargs) -> bool:
        return True

    m = await double_entry_motion(client, world, clock)
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200  # freezes
    before = await _ballot_marks(app, m["id"], world.community_id)
    monkeypatch.setattr(voting_service, "check_paper_entry", counts_at_once)
    hid = world.residents[1].household_id
    r = await paper(client, world, m["id"], hid, "agree", photo=jpeg())
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    after = await _ballot_marks(app, m["id"], world.community_id)
    assert after[:2] == before[:2] and after[2] == before[2] + 1  # the entry's audit record, no ballot number
    async with app.state.db.read_session() as s:
        from sqlalchemy import text

        seqs = (await s.exec(text("SELECT seq FROM ballot WHERE motion_id = :m ORDER BY seq")
                             .bindparams(m=m["id"]))).all()
    assert [int(x[0]) for x in seqs] == [1]


async def test_a_roll_frozen_while_a_paper_ballot_waited_for_the_motion_is_read_again(app, client, world,
                                                                                    clock) -> None:
    """PostgreSQL: the statement that takes a paper ballot's number waits for the motion's row and then reads
    the roll in its older snapshot. When the transaction it waited for froze the roll (the motion's first
    write), that read does not see the roll's entries: the household is looked up again, and its slip counts."""
    import asyncio

    import pytest
    from sqlalchemy import text

    from app.voting import repository as voting_repo
    from app.voting.state import freeze

    if app.state.db.is_sqlite:
        pytest.skip("one writer: nothing commits while a statement waits")
    from datetime import timedelta

    _, _, m = await setup_motion(client, world, clock.now() + timedelta(minutes=1))  # its roll frozen later
    clock.advance(minutes=2)
    hid = world.residents[1].household_id
    async with app.state.db.write_session() as first:
        took = await voting_repo.take_ballot_number(first, motion_id=m["id"], now=clock.now())
        assert took is not None and took.motion.roll_frozen_at is None
        await freeze(first, took.motion, clock.now())  # the roll frozen, not committed yet
        entering = asyncio.create_task(paper(client, world, m["id"], hid, "agree", photo=jpeg()))
        waited = False
        for _ in range(400):
            await asyncio.sleep(0.025)
            async with app.state.db.read_session() as s:
                waiting = (await s.exec(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query LIKE 'UPDATE motion SET ballot_seq%'"))).one()[0]
            if waiting:
                waited = True
                break
            assert not entering.done(), entering.result().text
        assert waited, "the paper ballot never waited for the motion's row"
        await first.commit()
    r = await entering
    assert r.status_code == 201 and r.json()["status"] == "counted", r.text
    assert r.json()["household_id"] == hid
