"""The lobby board (issue 19): its address (made, rotated, disabled by staff; audited), the public page (what it
shows and what it never shows), escaping and headers. Through the real app and database."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
from sqlmodel import col, select

from app.core.models import AuditEntry
from tests.factories import add_staff, auth, create_community
from tests.surveys.helpers import make_questionnaire, sh, travel
from tests.voting.helpers import make_motion, make_plan, make_project, vote

API = "/api/v1"
XSS = "<script>alert(1)</script>加装电梯方案"


class _Text(HTMLParser):
    """The text a person reads (scripts and styles left out), and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(html: str) -> tuple[str, list[str]]:
    p = _Text()
    p.feed(html)
    return re.sub(r"\s+", " ", "".join(p.parts)), p.tags


async def new_token(client: httpx.AsyncClient, headers: dict, community_id: str) -> dict:
    r = await client.post(f"{API}/communities/{community_id}/board-token", headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def board(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"/board/{token}")


async def audit_actions(app, community_id: str) -> list[tuple[str, dict]]:
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.chain == community_id,
                                                      col(AuditEntry.action).startswith("board_token."))
                             .order_by(col(AuditEntry.seq)))).all()
    return [(r.action, r.data) for r in rows]


def assert_headers(r: httpx.Response) -> None:
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-robots-tag"].startswith("noindex")
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'none'" in csp and "unsafe-inline" not in csp


async def test_token_made_rotated_disabled_by_staff_only(app, client, world) -> None:
    cid = world.community_id
    # nobody but staff of the community (and admins) may make it
    r = await client.post(f"{API}/communities/{cid}/board-token")
    assert r.status_code == 401
    r = await client.post(f"{API}/communities/{cid}/board-token", headers=world.residents[0].headers)
    assert r.status_code == 403
    other = await create_community(client, world.admin, world.jurisdiction_id, "别的小区")
    _, other_staff = await add_staff(client, world.admin, other, "staff-other")
    r = await client.post(f"{API}/communities/{cid}/board-token", headers=auth(other_staff))
    assert r.status_code == 404
    r = await client.get(f"{API}/communities/{cid}/board-token", headers=world.staff)
    assert r.json() == {"active": False, "created_at": None}

    first = await new_token(client, world.staff, cid)
    assert first["replaced"] is False
    assert len(first["token"]) >= 43  # 256 random bits, base64url
    assert first["path"] == f"/board/{first['token']}" and first["url"] == f"http://test/board/{first['token']}"
    r = await board(client, first["token"])
    assert r.status_code == 200, r.text
    assert_headers(r)
    assert "幸福里小区" in visible(r.text)[0]
    state = (await client.get(f"{API}/communities/{cid}/board-token", headers=world.staff)).json()
    assert state["active"] is True and "token" not in state

    # the token is stored only as a keyed hash
    from app.board.models import BoardToken
    async with app.state.db.read_session() as s:
        row = (await s.exec(select(BoardToken))).one()
    assert row.community_id == cid and first["token"] not in row.token_hash and len(row.token_hash) == 64

    # rotate: the old address is gone at once (a bare 404 page), the new one works
    second = await new_token(client, world.admin, cid)
    assert second["replaced"] is True and second["token"] != first["token"]
    r = await board(client, first["token"])
    assert r.status_code == 404
    assert_headers(r)
    assert "幸福里小区" not in r.text and "页面不存在" in r.text
    assert (await board(client, second["token"])).status_code == 200

    # disable: 204, the address is gone; again: still 204
    r = await client.delete(f"{API}/communities/{cid}/board-token", headers=world.residents[0].headers)
    assert r.status_code == 403
    assert (await board(client, second["token"])).status_code == 200
    for _ in range(2):
        r = await client.delete(f"{API}/communities/{cid}/board-token", headers=world.staff)
        assert r.status_code == 204
    assert (await board(client, second["token"])).status_code == 404
    assert (await client.get(f"{API}/communities/{cid}/board-token", headers=world.staff)).json()["active"] is False

    actions = await audit_actions(app, cid)
    assert [a for a, _ in actions] == ["board_token.created", "board_token.rotated", "board_token.disabled"]
    assert all(first["token"] not in str(d) and second["token"] not in str(d) for _, d in actions)


async def test_unknown_and_malformed_tokens_are_404_pages(client, world) -> None:
    await new_token(client, world.staff, world.community_id)
    for token in ("x" * 43, "short", "a" * 300, "%3Cscript%3E", "ab.cd" * 9):
        r = await client.get(f"/board/{token}")
        assert r.status_code == 404, token
        assert r.headers["content-type"].startswith("text/html")
        assert "幸福里小区" not in r.text and "<script" not in r.text


async def test_board_shows_notices_turnout_and_published_results_only(app, client, world, clock) -> None:
    token = (await new_token(client, world.staff, world.community_id))["token"]
    r = await board(client, token)
    text, _ = visible(r.text)
    assert "目前没有公示中的事项" in text and "目前没有进行中的表决或问卷" in text and "暂无已结束的表决" in text

    pid = await make_project(client, world)
    # a notice published on Monday 23 Nov 10:00 to start today: a partial day, counting starts on Tuesday;
    # five working days end on Monday 30 Nov
    r = await client.post(f"{API}/projects/{pid}/notices", headers=world.staff,
                          json={"kind": "other", "title": XSS, "body": "正文不上公示栏", "start_date": "2026-11-23",
                                "working_days": 5})
    assert r.status_code == 201, r.text
    notice = r.json()
    plan = await make_plan(client, world, pid)
    motion = await make_motion(client, world, plan["id"], clock.now(), title="关于加装电梯的表决")
    mid = motion["id"]
    owner_a, other = world.residents[0], world.residents[1]  # 1-1-101 (owner A has 3 households), 1-1-102
    assert (await vote(client, owner_a.headers, mid, "agree")).status_code == 200
    assert (await vote(client, other.headers, mid, "disagree")).status_code == 200
    q = await make_questionnaire(client, world, pid, title="改造需求问卷")
    r = await client.put(f"{API}/questionnaires/{q['id']}/response", headers=world.residents[2].headers,
                         json={"answers": [{"question_id": q["questions"][0]["id"], "value": True}]})
    assert r.status_code == 200, r.text

    r = await board(client, token)
    assert r.status_code == 200
    assert_headers(r)
    html = r.text
    text, tags = visible(html)
    # escaped: the title is text, never a tag
    assert "script" not in tags and "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert XSS in text
    assert notice["end_date"] == "2026-11-30" and notice["days_left"] == 5
    assert "公示期至 2026年11月30日 24:00（北京时间），还剩 5 个工作日" in text
    # the vote notice runs until the motion closes (Monday 30 Nov 10:00, seven days after it opened)
    assert "投票公告：关于加装电梯的表决公示期至 2026年11月30日 10:00（北京时间）" in text
    assert "正文不上公示栏" not in text
    # turnout: the same numbers as the staff progress page (owner A's ballot counts for 3 households)
    prog = (await client.get(f"{API}/motions/{mid}/progress", headers=world.staff)).json()
    assert prog["households"]["share"] == "4/12"
    assert f"已参与 4 / 12 户（{prog['households']['percent']}）" in text
    assert f"专有面积 {prog['area']['answered_m2']} / {prog['area']['total_m2']} m²" in text
    assert prog["area"]["answered_m2"] == "315.50" and prog["area"]["total_m2"] == "951.87"
    qprog = (await client.get(f"{API}/questionnaires/{q['id']}/progress", headers=world.staff)).json()
    assert f"已参与 {qprog['households']['answered']} / {qprog['households']['total']} 户" in text
    assert "改造需求问卷" in text and "关于加装电梯的表决" in text
    # while open: no choice, no count per option, nobody
    for word in ("同意", "反对", "弃权", "agree", "通过"):
        assert word not in text, word
    for person in (*(res.name for res in world.residents), "13800130000"):
        assert person not in html
    for h in world.households:
        assert h["id"] not in html
    for uid in (world.staff_user_id, owner_a.user_id, mid, pid, notice["id"]):
        assert uid not in html

    # closed: until its vote-result notice opens, no outcome and no figure
    r = await client.post(f"{API}/motions/{mid}/close", headers=world.staff)
    assert r.status_code == 200, r.text
    text, _ = visible((await board(client, token)).text)
    assert "表决已截止，结果待公示" in text and "通过" not in text and "同意" not in text
    assert "关于加装电梯的表决" in text and "已参与 4 / 12 户" not in text

    # Tuesday: the result notice is open; the board shows what it shows (outcome and condition lines), no rooms
    await travel(client, world, clock, sh(2026, 11, 24, 9))
    tally = (await client.get(f"{API}/motions/{mid}/tally", headers=world.staff)).json()
    html = (await board(client, token)).text
    text, _ = visible(html)
    assert "表决结果公示：关于加装电梯的表决" in text
    outcome = {"passed": "通过", "failed": "未通过"}[tally["outcome"]]
    assert f"表决结果：{outcome}（暂定结果）" in text
    for c in tally["conditions"]:
        assert f"{c['label_zh']}：{c['numerator_display']}/{c['denominator_display']}" in text
    assert "1号楼1单元101" not in text and "101" not in text
    # the first notice on Tuesday: today counts while it lasts (24–30 Nov: still five working days)
    n = (await client.get(f"{API}/notices/{notice['id']}", headers=world.staff)).json()
    assert n["days_left"] == 5 and f"还剩 {n['days_left']} 个工作日" in text
    for person in (res.name for res in world.residents):
        assert person not in html


async def test_other_communities_never_show(client, world, clock) -> None:
    other = await create_community(client, world.admin, world.jurisdiction_id, "隔壁小区")
    _, other_staff = await add_staff(client, world.admin, other, "staff-next")
    theirs = (await new_token(client, auth(other_staff), other))["token"]
    pid = await make_project(client, world)
    r = await client.post(f"{API}/projects/{pid}/notices", headers=world.staff,
                          json={"kind": "other", "title": "幸福里停水通知", "body": "b", "start_date": "2026-11-23",
                                "working_days": 5})
    assert r.status_code == 201, r.text
    plan = await make_plan(client, world, pid)
    open_motion = await make_motion(client, world, plan["id"], clock.now(), title="幸福里的表决")
    closing = await make_motion(client, world, plan["id"], clock.now(), title="幸福里已结束的表决")
    assert (await client.post(f"{API}/motions/{closing['id']}/close", headers=world.staff)).status_code == 200
    await make_questionnaire(client, world, pid, title="幸福里问卷")
    ours = (await new_token(client, world.staff, world.community_id))["token"]
    text, _ = visible((await board(client, ours)).text)
    assert "幸福里停水通知" in text and open_motion["title"] in text and "幸福里问卷" in text
    assert "幸福里已结束的表决" in text
    assert f"{open_motion['title']}范围：全小区" in text

    # a building's motion: its scope and its own households only (building 2: six households)
    await make_motion(client, world, plan["id"], clock.now(), title="2号楼外墙保温", scope="building", building="2")
    text, _ = visible((await board(client, ours)).text)
    assert "2号楼外墙保温范围：2号楼" in text and "已参与 0 / 6 户（0.0%）" in text
    text, _ = visible((await board(client, theirs)).text)
    assert "隔壁小区" in text and "幸福里" not in text
    assert "目前没有公示中的事项" in text and "目前没有进行中的表决或问卷" in text and "暂无已结束的表决" in text


async def test_board_is_rate_limited_per_address(settings, clock, wechat) -> None:
    from app.core import ratelimit as rl
    from app.main import create_app

    application = create_app(settings.model_copy(update={"rate_limit_enabled": True}), clock=clock,
                             http=httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler)))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as c:
            statuses = [(await c.get("/board/" + "y" * 43)).status_code for _ in range(rl.BOARD_PER_IP.limit + 1)]
            assert statuses[:-1] == [404] * rl.BOARD_PER_IP.limit
            r = await c.get("/board/" + "y" * 43)
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.headers["content-type"].startswith("text/html") and r.headers["cache-control"] == "no-store"
    finally:
        await application.state.http.aclose()
        await application.state.db.dispose()
