"""End to end, as the committee would do it: open a motion, see 0 of N answered, send reminders (the fake
WeChat server receives them), print the door-to-door sheet, enter two paper ballots from it, and watch
progress and the distance to each threshold move."""

from __future__ import annotations

import io

import openpyxl

from app.core.units import parse_area
from app.turnout.worker import run_outbox_once
from tests.turnout.helpers import bind_wechat
from tests.voting.helpers import jpeg, paper, setup_motion, tally, vote

API = "/api/v1"


def by_name(conditions: list[dict]) -> dict[str, dict]:
    return {c["name"]: c for c in conditions}


async def test_committee_works_through_a_motion(app, client, wechat, world, clock, settings) -> None:
    # four households signed in with WeChat (households 5–8 by building/unit/room); residents 1–4 did not
    bound = [await bind_wechat(client, wechat, world, world.households[i]["id"], openid=f"openid-{i}",
                               phone=f"1370000{i:04d}") for i in range(4, 8)]
    total_area = sum(parse_area(h["area_m2"]) for h in world.households)

    # staff open a motion on the renovation plan (Laoshan: civil_code_major)
    _, _, motion = await setup_motion(client, world, clock.now())
    mid = motion["id"]
    assert motion["status"] == "open"

    r = await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["status"] == "open" and p["households"]["share"] == "0/12" and p["owners"]["share"] == "0/10"
    assert p["area"]["answered_m2"] == "0.00" and parse_area(p["area"]["total_m2"]) == total_area
    assert [b["building"] for b in p["buildings"]] == ["1", "2"]
    assert [u["households"]["share"] for u in p["buildings"][0]["units"]] == ["0/3", "0/3"]
    rule = p["rule"]
    assert rule["rule"]["kind"] == "civil_code_major" and rule["outcome"] == "pending"
    c = by_name(rule["conditions"])
    assert c["participation_headcount"]["shortfall_owners"] == 7  # ⌈2/3 × 10⌉ owners must take part
    assert c["participation_headcount"]["hint_zh"] == "还需 7 位业主参与表决"
    need_area = -(-2 * total_area // 3)
    assert c["participation_area"]["shortfall"] == need_area
    assert c["participation_area"]["shortfall_area_m2"] == f"{need_area // 100}.{need_area % 100:02d}"
    assert c["participation_area"]["shortfall_owners"] >= 1
    before = c

    # remind: the four WeChat-bound households get a subscribe message, the eight others need a visit
    r = await client.post(f"{API}/motions/{mid}/reminders", headers=world.staff)
    assert r.status_code == 202, r.text
    sent = r.json()
    assert sent["non_responders"] == 12 and sent["queued_households"] == 4 and sent["queued_messages"] == 4
    assert sent["skipped"] == {"already_reminded_today": 0, "opted_out": 0, "no_wechat": 8,
                               "no_grant": 0}
    assert sent["needs_visit"] == 8
    stats = await run_outbox_once(app.state.db, http=app.state.http,
                                  settings=settings.model_copy(update={"outbox_sender": "wechat"}), clock=clock)
    assert stats["sent"] == 4
    assert sorted(m["touser"] for m in wechat.sent) == [b.openid for b in bound]
    msg = wechat.sent[0]
    assert msg["template_id"] == settings.wechat_template_id and msg["page"] == f"pages/motion/detail?id={mid}"
    assert msg["data"]["thing1"]["value"].startswith("关于实施") and msg["data"]["time2"]["value"]
    # pressing the button again the same day sends nothing more
    again = (await client.post(f"{API}/motions/{mid}/reminders", headers=world.staff)).json()
    assert again["queued_households"] == 0 and again["skipped"]["already_reminded_today"] == 4
    p = (await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)).json()
    assert p["reminders"]["reminded_today"] == 4 and p["reminders"]["messages"]["sent"] == 4

    # the list and the printable sheet
    r = await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)
    assert r.status_code == 200, r.text
    nr = r.json()
    assert nr["non_responders"] == 12 and nr["needs_visit"] == 8 and nr["households_in_scope"] == 12
    rows = [(b["building"], u["unit"], h) for b in nr["buildings"] for u in b["units"] for h in u["households"]]
    assert [(b, u, h["room"]) for b, u, h in rows][:3] == [("1", "1", "101"), ("1", "1", "102"), ("1", "1", "201")]
    first = rows[0][2]
    assert first["needs_visit"] is True and first["visit_reason"] == "no_wechat"
    assert first["members"][0]["phone"] == "138****0000" and first["members"][0]["name"] == "居**"
    reachable = {h["household_id"] for _, _, h in rows if not h["needs_visit"]}
    assert reachable == {b.household_id for b in bound}
    assert all(h["reminded_today"] for _, _, h in rows if h["household_id"] in reachable)

    r = await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff, params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="door-to-door-motion-20261123.xlsx"')
    assert "filename*=UTF-8''%E5%85%A5%E6%88%B7" in disposition  # 入户走访表-…
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["入户走访"]
    ws = wb.active
    header = [c.value for c in ws[3]]
    assert header == ["楼栋", "单元", "房号", "面积", "联系电话", "走访结果", "签名", "备注"]
    sheet_rows = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    assert len(sheet_rows) == 12
    assert sheet_rows[0][:5] == ["1", "1", "101", 80, "138****0000"]
    assert all(row[5] is None and row[6] is None for row in sheet_rows)  # left for the visit
    assert ws.print_title_rows == "$3:$3" and ws.column_dimensions["F"].width >= 20
    # the two households at the end of the sheet (building 2, unit 2) answer on paper at the door
    visited = {(row[0], row[1], row[2]) for row in sheet_rows[-2:]}
    assert visited == {("2", "2", "102"), ("2", "2", "201")}
    door = [world.household(*k)["id"] for k in sorted(visited)]
    for i, hid in enumerate(door):
        r = await paper(client, world, mid, hid, "agree", photo=jpeg((200 + i, 200, 200)))
        assert r.status_code == 201, r.text

    p = (await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)).json()
    assert p["households"]["share"] == "2/12" and p["owners"]["share"] == "2/10"
    assert p["area"]["answered_m2"] == "144.99"  # 45.00 + 99.99
    b2 = p["buildings"][1]
    assert b2["households"]["share"] == "2/6" and [u["households"]["share"] for u in b2["units"]] == ["0/3", "2/3"]
    c = by_name(p["rule"]["conditions"])
    assert c["participation_headcount"]["shortfall_owners"] == 5
    assert c["participation_area"]["shortfall"] == before["participation_area"]["shortfall"] - 14499
    assert c["agree_headcount"]["met"] is True and c["agree_area"]["met"] is True
    # the distance agrees with voting's own tally
    t = (await tally(client, world.staff, mid)).json()
    for cond in t["conditions"]:
        mine = c[cond["name"]]
        assert (mine["numerator"], mine["denominator"], mine["shortfall"], mine["met"]) == \
            (cond["numerator"], cond["denominator"], cond["shortfall"], cond["met"])
    nr = (await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)).json()
    assert nr["non_responders"] == 10 and nr["answered"] == 2
    left = {h["household_id"] for b in nr["buildings"] for u in b["units"] for h in u["households"]}
    assert not left & set(door)

    # owner grouping: OWNER-A votes once (household 1-1-101) and has answered for all three households
    owner_a = world.residents[0]
    r = await vote(client, owner_a.headers, mid, "disagree", household_id=owner_a.household_id)
    assert r.status_code == 200, r.text
    p = (await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)).json()
    assert p["households"]["share"] == "5/12" and p["owners"]["share"] == "3/10"
    nr = (await client.get(f"{API}/motions/{mid}/non-responders", headers=world.staff)).json()
    rooms = {(b["building"], u["unit"], h["room"]) for b in nr["buildings"] for u in b["units"] for h in u["households"]}
    assert nr["non_responders"] == 7 and not rooms & {("1", "1", "101"), ("1", "2", "101"), ("2", "1", "101")}
    c = by_name(p["rule"]["conditions"])
    assert c["participation_headcount"]["shortfall_owners"] == 4 and c["agree_headcount"]["met"] is False

    # once the motion has closed, no more reminders
    r = await client.post(f"{API}/motions/{mid}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    r = await client.post(f"{API}/motions/{mid}/reminders", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "reminder.not_open"
    p = (await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)).json()
    assert p["status"] == "closed"
