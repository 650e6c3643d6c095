"""Ballot slips: GET /motions/{id}/slips.pdf prints one slip per household of the motion's scope (the register's
before the roll is frozen, the roll after), in building, unit, room order, each with the motion, the rule in
words, the household's room and area, the three choices, and its slip code as a QR code that reads back to
the household; filters narrow the set, every print is audited, and only staff who enter paper ballots may
print."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select

from app.core.models import AuditEntry
from app.core.security import read_slip_code, slip_code
from app.rules import Rule
from app.rules.wording import rule_words
from tests.conftest import TEST_SECRET
from tests.documents.helpers import assert_pdf, nfkc, page_qr_codes, page_texts
from tests.factories import add_staff, create_community
from tests.voting.helpers import API, make_motion, make_plan, make_project, setup_motion, vote


def _slips_url(motion_id: str) -> str:
    return f"{API}/motions/{motion_id}/slips.pdf"


async def _buildings(client, world) -> dict[str, dict]:
    r = await client.get(f"{API}/communities/{world.community_id}/buildings", headers=world.staff)
    assert r.status_code == 200, r.text
    return {b["name"]: b | {"unit_ids": {u["name"]: u["id"] for u in b["units"]}} for b in r.json()}


async def _printed(app, motion_id: str) -> list[dict]:
    async with app.state.db.read_session() as s:
        q = (select(AuditEntry).where(AuditEntry.action == "motion.slips_printed", AuditEntry.entity_id == motion_id)
             .order_by(col(AuditEntry.seq)))
        return [{"actor": e.actor_id} | e.data for e in (await s.exec(q)).all()]


def _household_of_page(world, text: str) -> dict:
    """The register row whose place the page prints (each place once)."""
    found = [h for h in world.households if f"房屋 {h['building']}号楼{h['unit']}单元{h['room']}" in text]
    assert len(found) == 1, text
    return found[0]


async def test_one_slip_per_household_in_order_with_a_qr_code_that_reads_back(app, client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, opens_at=(now + timedelta(days=1)).isoformat(),
                          closes_at=(now + timedelta(days=8)).isoformat())  # scheduled: the register's households
    r = await client.get(_slips_url(m["id"]), headers=world.staff)
    pdf = assert_pdf(r)
    assert r.headers["x-slip-count"] == "12"
    texts, qrs = page_texts(pdf), page_qr_codes(pdf)
    assert len(texts) == len(qrs) == 12
    rule = rule_words(Rule.from_dict({k: v for k, v in m["rule"].items() if k not in ("description_zh", "legal_source")}))
    order = []
    for n, (text, qr) in enumerate(zip(texts, qrs, strict=True), 1):
        assert re.search(rf"第 {n} 页 / 共 12\s*页", text)
        h = _household_of_page(world, text)
        order.append((h["building"], h["unit"], h["room"]))
        assert "幸福里小区" in text and "业主表决票" in text and nfkc(m["title"]) in text
        assert nfkc(rule) in text
        assert nfkc(f"专有部分面积 {h['area_m2']} m²") in text
        assert "同意" in text and "不同意" in text and "弃权" in text and nfkc("业主签名（或按手印）：") in text
        assert nfkc("日期：") in text
        expected = slip_code(TEST_SECRET, motion_id=m["id"], household_id=h["id"])
        assert qr == [expected]  # the QR code carries exactly this household's slip code ...
        assert read_slip_code(TEST_SECRET, qr[0], motion_id=m["id"]) == h["id"]  # ... which reads back to it
        assert expected in text  # and the code is printed too
    assert order == sorted(order)  # building, unit, room
    assert "2026年11月24日 10:00 至 2026年12月1日 10:00" in text  # the voting window in Beijing time
    [entry] = await _printed(app, m["id"])
    assert entry == {"actor": world.staff_user_id, "count": 12, "building_id": None, "unit_id": None,
                     "non_responders_only": False, "source": "register"}


async def test_filters_and_non_responders_on_the_frozen_roll(app, client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())  # open now
    buildings = await _buildings(client, world)
    b1, b2 = buildings["1"], buildings["2"]
    voter = world.residents[0]  # 1-1-101, an owner of three households (one choice for all three)
    r = await vote(client, voter.headers, m["id"], "agree")
    assert r.status_code == 200, r.text  # the first write froze the roll
    r = await client.get(_slips_url(m["id"]), headers=world.staff)
    assert r.headers["x-slip-count"] == "12" and len(page_texts(assert_pdf(r))) == 12

    async def pages(**params) -> list[dict]:
        r = await client.get(_slips_url(m["id"]), headers=world.staff, params=params)
        texts = page_texts(assert_pdf(r))
        assert r.headers["x-slip-count"] == str(len(texts))
        return [_household_of_page(world, t) for t in texts]

    got = await pages(non_responders_only="true")
    assert voter.household_id not in {h["id"] for h in got} and len(got) == 11
    got = await pages(building_id=b1["id"])
    assert [(h["unit"], h["room"]) for h in got] == [("1", "101"), ("1", "102"), ("1", "201"),
                                                    ("2", "101"), ("2", "102"), ("2", "201")]
    assert {h["building"] for h in got} == {"1"}
    got = await pages(building_id=b1["id"], unit_id=b1["unit_ids"]["1"], non_responders_only="true")
    assert [h["room"] for h in got] == ["102", "201"]
    got = await pages(unit_id=b2["unit_ids"]["2"])
    assert [(h["building"], h["unit"], h["room"]) for h in got] == [("2", "2", "101"), ("2", "2", "102"),
                                                                   ("2", "2", "201")]
    printed = await _printed(app, m["id"])
    assert [(p["count"], p["source"]) for p in printed] == [(12, "roll"), (11, "roll"), (6, "roll"), (2, "roll"),
                                                           (3, "roll")]
    assert printed[3] == {"actor": world.staff_user_id, "count": 2, "building_id": b1["id"],
                          "unit_id": b1["unit_ids"]["1"], "non_responders_only": True, "source": "roll"}
    # bad filters: 422, nothing printed or audited
    for params in ({"building_id": "x" * 32}, {"unit_id": "nope"}, {"building_id": b1["id"], "unit_id": b2["unit_ids"]["1"]},
                   {"non_responders_only": "perhaps"}):
        r = await client.get(_slips_url(m["id"]), headers=world.staff, params=params)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", params
    r = await client.get(_slips_url(m["id"]), headers=world.staff, params={"building_id": "x" * 32})
    assert r.json()["code"] == "slips.bad_filter" and r.json()["errors"][0]["loc"] == ["query", "building_id"]
    assert len(await _printed(app, m["id"])) == 5


async def test_everyone_voted_prints_one_page_that_says_so(client, world, clock) -> None:
    now = clock.now()
    buildings = await _buildings(client, world)
    unit = buildings["1"]["unit_ids"]["1"]
    _, _, m = await setup_motion(client, world, now, scope="unit", unit_id=unit)
    for res in world.residents[:3]:  # 1-1-101, 102, 201: the whole unit
        assert (await vote(client, res.headers, m["id"], "disagree")).status_code == 200
    r = await client.get(_slips_url(m["id"]), headers=world.staff, params={"non_responders_only": "true"})
    [text] = page_texts(assert_pdf(r))
    assert r.headers["x-slip-count"] == "0" and "没有需要打印表决票的房屋" in text
    assert page_qr_codes(r.content) == [[]]


async def test_scope_permissions_and_errors(app, client, world, clock, tmp_path: Path) -> None:
    buildings = await _buildings(client, world)
    _, _, m = await setup_motion(client, world, clock.now(), scope="building", building_id=buildings["1"]["id"])
    r = await client.get(_slips_url(m["id"]), headers=world.staff)
    texts = page_texts(assert_pdf(r))
    assert len(texts) == 6 and all("表决范围 1号楼" in t for t in texts)
    # a building or unit outside the motion's scope
    for params in ({"building_id": buildings["2"]["id"]}, {"unit_id": buildings["2"]["unit_ids"]["1"]}):
        r = await client.get(_slips_url(m["id"]), headers=world.staff, params=params)
        assert r.status_code == 422 and r.json()["code"] == "slips.bad_filter", params
    # residents may not print slips; unknown motions are 404; another community's staff do not see it
    r = await client.get(_slips_url(m["id"]), headers=world.residents[0].headers)
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    r = await client.get(_slips_url("0" * 32), headers=world.staff)
    assert r.status_code == 404 and r.json()["code"] == "motion.not_found"
    other = await create_community(client, world.admin, world.jurisdiction_id, "和平里小区")
    _, other_staff = await add_staff(client, world.admin, other, "staff-other")
    r = await client.get(_slips_url(m["id"]), headers={"Authorization": f"Bearer {other_staff}"})
    assert r.status_code == 404
    assert (await client.get(_slips_url(m["id"]))).status_code == 401
    # the jurisdiction's admin may
    assert len(page_texts(assert_pdf(await client.get(_slips_url(m["id"]), headers=world.admin)))) == 6
    # no font: 503 with its code, nothing audited
    before = len(await _printed(app, m["id"]))
    app.state.settings.pdf_font_path = tmp_path / "none.ttf"
    r = await client.get(_slips_url(m["id"]), headers=world.staff)
    assert r.status_code == 503 and r.json()["code"] == "documents.font_missing"
    assert len(await _printed(app, m["id"])) == before == 2
