"""The vote notice (投票公告): published when a motion's roll is frozen, in the same transaction — scope, the
roll's totals and hash (equal to GET /motions/{id}/roll), the voting window and the rule in words; one per
motion, however often the motion is touched; audited."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from app.core.models import AuditEntry
from app.rules import SHANGHAI, Rule, rule_words
from tests.voting.helpers import API, make_motion, make_plan, make_project, setup_motion, tally, vote


async def notices(client, headers: dict, community_id: str, kind: str | None = None) -> list[dict]:
    r = await client.get(f"{API}/communities/{community_id}/notices", headers=headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if kind is None or n["kind"] == kind]


def local(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def test_first_ballot_publishes_the_vote_notice_with_the_roll(client, world, clock, app) -> None:
    now = clock.now()
    opens = now + timedelta(minutes=5)
    _, _, m = await setup_motion(client, world, now, opens_at=opens.isoformat(),
                                 closes_at=(opens + timedelta(days=7)).isoformat())
    res = world.residents[0]
    assert await notices(client, res.headers, world.community_id, "vote_notice") == []  # scheduled: no roll yet
    clock.advance(minutes=6)
    assert (await vote(client, res.headers, m["id"], "agree")).status_code == 200  # the first touch freezes
    roll = (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).json()
    [n] = await notices(client, res.headers, world.community_id, "vote_notice")  # residents see it
    assert n["motion_id"] == m["id"] and n["kind_zh"] == "投票公告" and n["title"] == f"投票公告：{m['title']}"
    body = n["body"]
    t = roll["totals"]
    area = f"{t['area_centi'] // 100}.{t['area_centi'] % 100:02d}"
    assert f"总户数 {t['households']} 户，业主人数 {t['owners']} 人，总面积 {area} m²" in body
    assert t["households"] == 12 and t["owners"] == 10
    assert f"名册哈希（SHA-256）：{roll['frozen_hash']}" in body and roll["roll_hash"] == roll["frozen_hash"]
    assert f"表决事项：{m['title']}" in body and "表决范围：全小区（" in body
    assert f"投票时间：{local(m['opens_at'])} 至 {local(m['closes_at'])}" in body
    assert f"表决规则：{rule_words(Rule.from_dict(m['rule']))}" in body
    # the window: published at the freeze (a partial day, not counted), objections until the motion closes
    assert n["status"] == "open" and n["start_date"] == "2026-11-23" and n["counting_starts"] == "2026-11-24"
    assert n["partial_day_excluded"] is True
    assert datetime.fromisoformat(n["opens_at"]) == clock.now()
    assert datetime.fromisoformat(n["closes_at"]) == datetime.fromisoformat(m["closes_at"])
    assert n["end_date"] == "2026-11-30" and n["working_days"] == 5 and n["provisional"] is False
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.entity_id == n["id"],
                                                      AuditEntry.action == "notice.published"))).all()
    assert len(rows) == 1 and rows[0].data["kind"] == "vote_notice" and rows[0].data["motion_id"] == m["id"]
    assert rows[0].data["roll_hash"] == roll["frozen_hash"]
    # a resident may object to the roll while the motion is open
    r = await client.post(f"{API}/notices/{n['id']}/objections", headers=res.headers,
                          json={"text": "我家的面积登记有误"})
    assert r.status_code == 201, r.text


async def test_one_vote_notice_per_motion_however_often_it_is_touched(client, world, clock) -> None:
    _, _, m = await setup_motion(client, world, clock.now())  # opens now: created and frozen at once
    for i, res in enumerate(world.residents):
        clock.advance(seconds=5)
        assert (await vote(client, res.headers, m["id"], "agree" if i % 2 else "disagree")).status_code == 200
        assert (await tally(client, world.staff, m["id"])).status_code == 200
        assert (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).status_code == 200
    clock.advance(seconds=5)
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    kinds = [n["kind"] for n in await notices(client, world.staff, world.community_id)
             if n["motion_id"] == m["id"]]
    # the motion's vote notice and its vote-result notice, one each
    assert sorted(kinds) == ["vote_notice", "vote_result"]


async def test_unit_scope_and_civil_code_rule_in_words(client, world, clock) -> None:
    now = clock.now()
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], now, scope="unit", building="1", unit="2",
                          rule={"kind": "civil_code_major"})
    [n] = [x for x in await notices(client, world.staff, world.community_id, "vote_notice")
           if x["motion_id"] == m["id"]]
    roll = (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).json()
    assert "表决范围：1号楼2单元\n" in n["body"] and f"总户数 {roll['totals']['households']} 户" in n["body"]
    assert ("表决规则：参与表决的专有部分面积和人数均占三分之二以上，同意的面积和人数均占参与表决的四分之三以上"
            in n["body"])


async def test_a_motion_first_touched_at_its_close_gets_a_notice_that_has_ended(client, world, clock) -> None:
    now = clock.now()
    opens = now + timedelta(minutes=5)
    _, _, m = await setup_motion(client, world, now, opens_at=opens.isoformat(),
                                 closes_at=(opens + timedelta(minutes=5)).isoformat())
    clock.advance(minutes=11)  # opened and closed without a touch; the close freezes the roll first
    assert await notices(client, world.staff, world.community_id, "vote_notice") == []
    r = await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    [n] = [x for x in await notices(client, world.staff, world.community_id, "vote_notice")
           if x["motion_id"] == m["id"]]
    assert datetime.fromisoformat(n["closes_at"]) == datetime.fromisoformat(n["opens_at"]) == clock.now()
    assert n["status"] == "passed" and n["window_ended"] is True and n["working_days"] == 0
