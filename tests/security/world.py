"""One rich world for the security tests, built through the HTTP API only (plus the first admin).

Community A (the factories' world: 12 households, staff A, 4 residents) with a project that has
questionnaires, a plan with motions, ballots (online and paper, with a slip photo), a notice with an
attachment and objections (one with a photo), a supervisor and a contractor who can sign in, and two
photo reports (one assigned to the contractor). Community B (same jurisdiction) has its own staff and
one resident. ``headers[role]`` holds the credentials of each of the eight roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from tests.factories import (
    STAFF_PASSWORD,
    World,
    activate,
    add_staff,
    auth,
    build_world,
    create_community,
    import_csv,
    issue_codes,
    login,
)
from tests.media.imaging import phone_jpeg
from tests.voting.helpers import plan_body

API = "/api/v1"

ANON, RES_A, RES_B, STAFF_A, STAFF_B, SUP, CON, ADMIN = (
    "anonymous", "resident_a", "resident_b", "staff_a", "staff_b", "supervisor", "contractor", "admin")
# the order requests are sent in: outsiders first, then the roles that may act
ROLES = (ANON, RES_B, STAFF_B, RES_A, SUP, CON, STAFF_A, ADMIN)

PEOPLE_PASSWORD = "people-pass-2026!"
SUPERVISOR_PHONE = "13911112222"
CONTRACTOR_PHONE = "13933334444"
RESIDENT_B_PHONE = "13955556666"
RESIDENT_PHONES = tuple(f"1380013{i:04d}" for i in range(4))  # the factories' residents of A

B_CSV = """building,unit,room,area_m2,owner_key
9,1,101,70.00,OWNER-B
9,1,102,80.00,
"""


@dataclass
class SecWorld:
    a: World
    community_b: str
    headers: dict[str, dict[str, str]]
    ids: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)
    spare_households: list[str] = field(default_factory=list)  # households of A without any member
    counter: int = 0
    now: datetime | None = None

    def next(self) -> int:
        self.counter += 1
        return self.counter


def _ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, (r.request.method, r.request.url.path, r.status_code, r.text)
    return r.json() if r.content else {}


async def build_security_world(app, client: httpx.AsyncClient, wechat) -> SecWorld:
    a = await build_world(app, client)
    now = app.state.clock.now()
    staff = a.staff

    # ---- community B, same jurisdiction: its own staff and one resident
    cid_b = await create_community(client, a.admin, a.jurisdiction_id, "别的小区")
    _, staff_b_token = await add_staff(client, a.admin, cid_b, "staff-b")
    _ok(await import_csv(client, auth(staff_b_token), cid_b, B_CSV))
    hb = _ok(await client.get(f"{API}/communities/{cid_b}/households", headers=auth(staff_b_token)))["items"][0]["id"]
    codes = await issue_codes(client, auth(staff_b_token), cid_b, [hb])
    res_b = _ok(await activate(client, codes[hb], "外小区居民", phone=RESIDENT_B_PHONE))

    # ---- a project in A with a supervisor and a contractor who can sign in
    pid = _ok(await client.post(f"{API}/communities/{a.community_id}/projects", headers=staff,
                                json={"title": "幸福里小区综合改造"}), 201)["id"]
    sup = _ok(await client.post(f"{API}/projects/{pid}/supervisors", headers=staff, json={
        "name": "监督员老李", "phone": SUPERVISOR_PHONE, "source": "deputy", "username": "sup-a",
        "password": PEOPLE_PASSWORD}), 201)
    con = _ok(await client.post(f"{API}/projects/{pid}/contractors", headers=staff, json={
        "name": "施工员小王", "phone": CONTRACTOR_PHONE, "organization": "青岛建工", "username": "con-a",
        "password": PEOPLE_PASSWORD}), 201)
    sup_h = auth((await login(client, "sup-a", PEOPLE_PASSWORD))["access_token"])
    con_h = auth((await login(client, "con-a", PEOPLE_PASSWORD))["access_token"])

    headers = {ANON: {}, RES_A: a.residents[0].headers, RES_B: auth(res_b["access_token"]), STAFF_A: staff,
               STAFF_B: auth(staff_b_token), SUP: sup_h, CON: con_h, ADMIN: a.admin}
    w = SecWorld(a=a, community_b=cid_b, headers=headers, spare_households=sorted(a.codes), now=now)
    w.user_ids = {SUP: sup["user_id"], CON: con["user_id"], STAFF_A: a.staff_user_id}
    ids = w.ids
    ids.update(community_id=a.community_id, jurisdiction_id=a.jurisdiction_id, project_id=pid,
               household_id=a.residents[0].household_id, name="qingdao", household_b=hb)
    # a family member of resident A's household, for the member-removal route
    fam_code = await issue_codes(client, staff, a.community_id, [a.residents[0].household_id], relation="family")
    fam = _ok(await activate(client, fam_code[a.residents[0].household_id], "家属甲", phone="13900000009"))
    ids["transfer_household"] = w.spare_households[-2]
    ids["deactivate_household"] = w.spare_households[-3]
    ids["family_user_id"] = (await client.get(f"{API}/me", headers=auth(fam["access_token"]))).json()["user"]["id"]
    # a waiting invitation of resident A's household, for the revocation route
    ids["invite_id"] = _ok(await client.post(f"{API}/households/{a.residents[0].household_id}/invites",
                                             headers=staff, json={"relation": "tenant"}), 201)["id"]

    # ---- questionnaires: the main one (open, answered), drafts to edit / open, one to close
    async def questionnaire(open_: bool, **body) -> dict:
        q = _ok(await client.post(f"{API}/projects/{pid}/questionnaires", headers=staff,
                                  json={"kind": "willingness"} | body), 201)
        if open_:
            q = _ok(await client.post(f"{API}/questionnaires/{q['id']}/open", headers=staff))
        return q

    q = await questionnaire(True, title="改造意愿征询")
    ids["questionnaire_id"] = q["id"]
    ids["question_id"] = q["questions"][0]["id"]
    ids["q_patch"] = (await questionnaire(False))["id"]
    ids["q_open"] = (await questionnaire(False))["id"]
    ids["q_close"] = (await questionnaire(True))["id"]
    ids["q_contribution"] = (await questionnaire(True, kind="contribution"))["id"]  # closed: its answers -> pledges
    _ok(await client.post(f"{API}/questionnaires/{ids['q_contribution']}/close", headers=staff))
    _ok(await client.put(f"{API}/questionnaires/{q['id']}/response", headers=headers[RES_A],
                         json={"answers": [{"question_id": ids["question_id"], "value": True}]}))

    # ---- a plan, motions, an online ballot (receipt) and a paper ballot with its slip photo
    plan = _ok(await client.post(f"{API}/projects/{pid}/plans", headers=staff, json=plan_body()), 201)
    ids["plan_id"] = plan["id"]
    ids["plan_item_id"] = plan["items"][0]["id"]  # it has a residents' share (app/funding)

    async def motion(title: str) -> str:
        return _ok(await client.post(f"{API}/plans/{plan['id']}/motions", headers=staff, json={
            "title": title, "matter": "renovation_plan", "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(days=7)).isoformat()}), 201)["id"]

    ids["motion_id"] = await motion("关于实施改造方案的表决")
    ids["m_close"] = await motion("待关闭的表决")
    ballot = _ok(await client.put(f"{API}/motions/{ids['motion_id']}/ballot", headers=headers[RES_A],
                                  json={"choice": "agree"}))
    ids["receipt"] = ballot["receipt"]
    paper = _ok(await client.post(f"{API}/motions/{ids['motion_id']}/paper-ballots", headers=staff,
                                  data={"household_id": w.spare_households[0], "choice": "disagree",
                                        "proxy_name": "代理人甲", "proxy_relation": "子女"},
                                  files={"photo": ("slip.jpg", phone_jpeg(), "image/jpeg"),
                                         "proxy_photo": ("auth.jpg", phone_jpeg(), "image/jpeg")}), 201)
    ids["ballot_id"] = paper["ballot_id"]
    ids["paper_receipt"] = paper["receipt"]
    # double entry (issue 19): a motion opened under a profile that asks for it, with a slip in conflict
    # (staff and admin entered different choices), the first entry naming a proxy
    profile = _ok(await client.get(f"{API}/jurisdictions/{a.jurisdiction_id}", headers=a.admin))["profile"]
    _ok(await client.put(f"{API}/jurisdictions/{a.jurisdiction_id}/profile", headers=a.admin,
                         json=profile | {"paper_double_entry": True}))
    ids["m_paper"] = await motion("双人录入的表决")
    entry = _ok(await client.post(f"{API}/motions/{ids['m_paper']}/paper-ballots", headers=staff,
                                  data={"household_id": w.spare_households[1], "choice": "agree",
                                        "proxy_name": "代理人乙", "proxy_relation": "配偶"},
                                  files={"photo": ("slip.jpg", phone_jpeg(), "image/jpeg"),
                                         "proxy_photo": ("auth.jpg", phone_jpeg(), "image/jpeg")}), 201)
    assert entry["status"] == "pending", entry
    ids["slip_id"], ids["entry_id"] = entry["slip_id"], entry["entry_id"]
    second = _ok(await client.post(f"{API}/motions/{ids['m_paper']}/paper-ballots", headers=a.admin,
                                   data={"household_id": w.spare_households[1], "choice": "disagree"},
                                   files={"photo": ("slip.jpg", phone_jpeg(), "image/jpeg")}), 201)
    assert second["status"] == "conflict", second

    # ---- a notice (open today) with an attachment; objections, one with a photo, one to resolve
    notice = _ok(await client.post(f"{API}/projects/{pid}/notices", headers=staff, json={
        "kind": "plan", "title": "改造方案公示", "body": "方案全文", "start_date": now.date().isoformat()}), 201)
    ids["notice_id"] = notice["id"]
    with_att = _ok(await client.post(f"{API}/notices/{notice['id']}/attachments", headers=staff,
                                     files=[("files", ("方案.jpg", phone_jpeg(), "image/jpeg"))]), 201)
    ids["attachment_id"] = with_att["attachments"][0]["id"]
    obj = _ok(await client.post(f"{API}/notices/{notice['id']}/objections", headers=headers[RES_A],
                                json={"text": "电梯位置不合理"}), 201)
    ids["objection_id"] = obj["id"]
    with_photo = _ok(await client.post(f"{API}/objections/{obj['id']}/photos", headers=headers[RES_A],
                                       files=[("photos", ("IMG_1.jpg", phone_jpeg(), "image/jpeg"))]), 201)
    ids["objection_photo_id"] = with_photo["photos"][0]["id"]
    ids["o_resolve"] = _ok(await client.post(f"{API}/notices/{notice['id']}/objections", headers=headers[RES_A],
                                             json={"text": "施工时间扰民"}), 201)["id"]

    # ---- reports: one assigned to the contractor (rectifying), one just submitted
    async def report(description: str) -> dict:
        return _ok(await client.post(f"{API}/projects/{pid}/reports", headers=sup_h, data={
            "catalog_item": "外墙保温", "severity": "major", "description": description},
            files=[("photos", ("IMG_0001.jpg", phone_jpeg(), "image/jpeg"))]), 201)

    r1 = await report("三号楼东侧外墙保温层空鼓脱落")
    ids["report_id"] = r1["id"]
    ids["photo_id"] = r1["photos"][0]["id"]
    due = (now + timedelta(days=7)).date().isoformat()
    for body in ({"action": "acknowledge"}, {"action": "assign", "assignee_id": con["user_id"], "due_date": due}):
        _ok(await client.post(f"{API}/reports/{r1['id']}/transitions", headers=staff, json=body))
    ids["r_transition"] = (await report("二号楼屋面渗水"))["id"]
    # what staff's content moderation acts on (a decision may hide it: nothing else uses these)
    r_moderate = await report("楼道扶手松动")
    ids["r_moderate"], ids["moderate_photo_id"] = r_moderate["id"], r_moderate["photos"][0]["id"]
    ids["o_moderate"] = _ok(await client.post(f"{API}/notices/{notice['id']}/objections", headers=headers[RES_A],
                                              json={"text": "绿化带被占用"}), 201)["id"]

    # ---- the lobby board's address (staff make it; the public page takes it)
    ids["board_token"] = _ok(await client.post(f"{API}/communities/{a.community_id}/board-token", headers=staff),
                             201)["token"]

    # the WeChat fake knows one login code (its user is not bound to any household)
    wechat.codes["sec-wx-code"] = "openid-sec"
    return w


async def fresh_refresh_token(client: httpx.AsyncClient) -> str:
    return (await login(client, "staff1", STAFF_PASSWORD))["refresh_token"]
