"""Notice posters: GET /notices/{id}/poster.pdf prints a notice for the notice board — title, body (further
pages when long), the window in Beijing dates with its working days, how to object, and a QR code opening the
notice in the mini-program; a vote-result notice's rooms and areas as a table. Staff of the community only."""

from __future__ import annotations

import re
from pathlib import Path

from tests.documents.helpers import assert_pdf, nfkc, page_qr_codes, page_texts
from tests.factories import add_staff, create_community
from tests.voting.helpers import API, make_motion, make_plan, make_project, vote


def _zh(iso: str) -> str:
    y, m, d = (int(x) for x in iso.split("-"))
    return f"{y}年{m}月{d}日"


async def _notice(client, world, **body) -> dict:
    pid = await make_project(client, world)
    r = await client.post(f"{API}/projects/{pid}/notices", headers=world.staff, json={
        "kind": "other", "title": "关于加装电梯的公示", "body": "拟在1号楼加装电梯。", "start_date": "2026-11-23"} | body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_poster_window_objection_and_qr_code_and_long_bodies_wrap(client, world) -> None:
    paragraphs = [f"第{i}条：改造内容包括屋面防水、外墙保温、雨污分流和加装电梯，施工期间请注意安全。" * 3
                  for i in range(1, 61)]
    n = await _notice(client, world, body="\n".join(paragraphs))
    assert n["partial_day_excluded"] is True and n["working_days"] == 5  # published during its start date
    r = await client.get(f"{API}/notices/{n['id']}/poster.pdf", headers=world.staff)
    pdf = assert_pdf(r)
    texts = page_texts(pdf)
    whole = "".join(texts)
    assert len(texts) >= 3  # a long body goes on over further pages
    assert texts[0].startswith("幸福里小区公示(其他)") and "其他" in texts[0] and "关于加装电梯的公示" in texts[0]
    window = (f"公示期：{_zh(n['start_date'])} 至 {_zh(n['end_date'])}，共 {n['working_days']} 个工作日"
              f"（发布当日不计入，自{_zh(n['counting_starts'])}起算）")
    assert nfkc(window) in texts[0]
    assert window == "公示期：2026年11月23日 至 2026年11月30日，共 5 个工作日（发布当日不计入，自2026年11月24日起算）"
    for p in (paragraphs[0], paragraphs[29], paragraphs[59]):
        assert nfkc(p) in whole
    assert nfkc(f"请在 {_zh(n['end_date'])} 24:00（北京时间）前提出") in texts[-1]
    assert "小程序" in texts[-1] and "书面形式" in texts[-1]
    for i, t in enumerate(texts, 1):
        assert re.search(rf"公示编号 {n['id']}\s+第 {i} 页 / 共 {len(texts)}\s*页", t), t
    qrs = page_qr_codes(pdf)
    assert qrs[-1] == [f"pages/notice/index?id={n['id']}"] and all(q == [] for q in qrs[:-1])


async def test_vote_result_poster_prints_the_rooms_and_areas_as_a_table(client, world, clock) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now())
    for res, choice in zip(world.residents, ("agree", "agree", "disagree", "abstain"), strict=True):
        assert (await vote(client, res.headers, m["id"], choice)).status_code == 200
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    r = await client.get(f"{API}/communities/{world.community_id}/notices", headers=world.staff, params={"limit": 100})
    [n] = [x for x in r.json()["items"] if x["kind"] == "vote_result"]
    pdf = assert_pdf(await client.get(f"{API}/notices/{n['id']}/poster.pdf", headers=world.staff))
    whole = "".join(page_texts(pdf))
    assert "表决结果" in whole and nfkc(m["title"]) in whole and nfkc("表决结果：") in whole
    # the table: a headings row, then one numbered row per participating household with its area
    assert nfkc("序号房屋专有部分面积（m²）") in whole.replace(" ", "")
    body_rows = [line.strip() for line in n["body"].split("\n") if line.endswith(" m²")]
    assert body_rows  # the owner of three households voted for all three: every participant is listed
    for i, line in enumerate(body_rows, 1):
        place, area = line.rsplit("  ", 1)
        assert f"{i}{place}{area.removesuffix(' m²')}" in whole.replace(" ", ""), line
    assert "1号楼1单元101" in whole and "80.00" in whole
    assert page_qr_codes(pdf)[-1] == [f"pages/notice/index?id={n['id']}"]


async def test_who_may_print_a_poster(app, client, world, tmp_path: Path) -> None:
    n = await _notice(client, world, start_date="2026-11-25")
    url = f"{API}/notices/{n['id']}/poster.pdf"
    texts = page_texts(assert_pdf(await client.get(url, headers=world.staff)))
    assert len(texts) == 1 and "发布当日不计入" not in texts[0]
    assert nfkc("公示期：2026年11月25日 至 2026年12月1日，共 5 个工作日") in texts[0]
    assert len(page_texts(assert_pdf(await client.get(url, headers=world.admin)))) == 1
    r = await client.get(url, headers=world.residents[0].headers)  # residents read it in the mini-program
    assert r.status_code == 403 and r.json()["code"] == "auth.forbidden"
    other = await create_community(client, world.admin, world.jurisdiction_id, "和平里小区")
    _, other_staff = await add_staff(client, world.admin, other, "staff-other")
    assert (await client.get(url, headers={"Authorization": f"Bearer {other_staff}"})).status_code == 404
    r = await client.get(f"{API}/notices/{'0' * 32}/poster.pdf", headers=world.staff)
    assert r.status_code == 404 and r.json()["code"] == "notice.not_found"
    assert (await client.get(url)).status_code == 401
    # another mini-program page for notices
    app.state.settings.miniprogram_notice_path = "pkg/notice/detail"
    pdf = assert_pdf(await client.get(url, headers=world.staff))
    assert page_qr_codes(pdf) == [[f"pkg/notice/detail?id={n['id']}"]]
    app.state.settings.pdf_font_path = tmp_path / "gone.ttf"
    r = await client.get(url, headers=world.staff)
    assert r.status_code == 503 and r.json()["code"] == "documents.font_missing"
