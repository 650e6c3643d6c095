"""How each operation of the app is called in the security world: path ids, query, body, and the phase
(order) it runs in. Shared by the authorization matrix, the privacy walk and the limit tests."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.factories import STAFF_PASSWORD
from tests.security.world import ADMIN, API, SecWorld, fresh_refresh_token
from tests.voting.helpers import jpeg, plan_body

Body = Any  # a value, or a callable (world, client) -> value | awaitable


@dataclass(frozen=True)
class Req:
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> key of SecWorld.ids
    query: dict[str, Any] | None = None
    json: Body = None
    data: Body = None
    files: Callable[[], list] | None = None
    content: Body = None
    content_type: str | None = None
    phase: int = 0  # 0: reads and harmless writes; 1: state changes; 2, 3: acceptance and after


def _photos(field_name: str = "photos") -> Callable[[], list]:
    return lambda: [(field_name, ("IMG_2001.jpg", jpeg(), "image/jpeg"))]


def _answers(w: SecWorld) -> list[dict]:
    return [{"question_id": w.ids["question_id"], "value": True}]


async def _profile(w: SecWorld, client) -> dict:
    r = await client.get(f"{API}/jurisdictions/{w.ids['jurisdiction_id']}", headers=w.headers[ADMIN])
    return r.json()["profile"]


def _motion(w: SecWorld, client) -> dict:
    return {"title": "追加表决", "matter": "renovation_plan", "opens_at": w.now.isoformat(),
            "closes_at": (w.now + timedelta(days=7)).isoformat()}


REPORT_FORM = {"catalog_item": "外墙保温", "severity": "minor", "description": "单元门口地砖松动"}

REQUESTS: dict[str, Req] = {
    "GET /healthz": Req(),
    "GET /readyz": Req(),
    "GET /metrics": Req(),
    "POST /api/v1/auth/token": Req(data={"username": "staff1", "password": STAFF_PASSWORD}),
    "POST /api/v1/auth/refresh": Req(json=lambda w, c: _refresh_body(c)),
    "POST /api/v1/auth/logout": Req(json=lambda w, c: _refresh_body(c)),
    "POST /api/v1/auth/wechat": Req(json={"code": "sec-wx-code"}),
    "POST /api/v1/auth/activate": Req(json={"activation_code": "ZZZZ-ZZZZ-ZZZZ", "phone": "13800000000",
                                            "name": "某人"}),
    "POST /api/v1/auth/wechat/phone": Req(json={"code": "sec-phone-code"}),
    "POST /api/v1/auth/join": Req(json={"invite_code": "ZZZZ-ZZZZ", "phone": "13800000000", "name": "某人"}),
    "POST /api/v1/me/subscriptions": Req(json={"template_ids": ["reminder-template"]}),
    "GET /api/v1/me": Req(),
    "GET /api/v1/catalogs/{name}": Req(),
    "GET /api/v1/calendar/window": Req(query={"start_date": "2026-11-24", "working_days": 5}),
    "GET /api/v1/ballot-receipts/{receipt}": Req(),
    "POST /api/v1/jurisdictions": Req(json={"name": "新辖区", "preset": "laoshan"}),
    "GET /api/v1/jurisdictions": Req(),
    "GET /api/v1/communities": Req(),
    "GET /api/v1/jurisdictions/{jurisdiction_id}": Req(),
    "PUT /api/v1/jurisdictions/{jurisdiction_id}/profile": Req(json=_profile),
    # a new account (not one of the world's roles, which must not change); a repeat is 409 username_taken
    "POST /api/v1/jurisdictions/{jurisdiction_id}/admins": Req(
        json={"username": "street-office", "password": "street-office-2026!", "name": "街道办"}),
    "GET /api/v1/jurisdictions/{jurisdiction_id}/profile/versions": Req(),
    "GET /api/v1/jurisdictions/{jurisdiction_id}/ranking": Req(),
    "POST /api/v1/communities": Req(json=lambda w, c: {"jurisdiction_id": w.ids["jurisdiction_id"],
                                                       "name": f"新小区{w.next()}"}),
    "POST /api/v1/ops/reminders:run": Req(),
    "GET /api/v1/communities/{community_id}": Req(),
    "POST /api/v1/communities/{community_id}/households:import": Req(
        content=lambda w, c: f"building,unit,room,area_m2,owner_key\n3,1,{100 + w.next()},50.00,\n".encode(),
        content_type="text/csv"),
    "GET /api/v1/communities/{community_id}/households": Req(),
    "GET /api/v1/communities/{community_id}/buildings": Req(),
    "POST /api/v1/communities/{community_id}/households": Req(
        json={"building": "1", "unit": "1", "room": "999", "area_m2": "50.00", "reason": "补登"}),
    "PATCH /api/v1/households/{household_id}": Req(json={"area_m2": "80.00", "reason": "核对面积"}, phase=1),
    "GET /api/v1/households/{household_id}/members": Req(),
    "POST /api/v1/households/{household_id}/transfer": Req(
        ids={"household_id": "transfer_household"}, json={"owner_key": "NEW-OWNER", "reason": "过户"}, phase=3),
    "POST /api/v1/households/{household_id}/deactivate": Req(
        ids={"household_id": "deactivate_household"}, json={"reason": "两户合并"}, phase=1),
    "POST /api/v1/households/{household_id}/reactivate": Req(
        ids={"household_id": "deactivate_household"}, json={"reason": "误操作，恢复"}, phase=3),
    "POST /api/v1/households/{household_id}/invites": Req(json={"relation": "tenant"}),
    "GET /api/v1/households/{household_id}/invites": Req(),
    "DELETE /api/v1/households/{household_id}/invites/{invite_id}": Req(
        ids={"household_id": "household_id", "invite_id": "invite_id"}, phase=3),
    "DELETE /api/v1/households/{household_id}/members/{user_id}": Req(
        ids={"household_id": "household_id", "user_id": "family_user_id"}, phase=3),
    "POST /api/v1/communities/{community_id}/activation-codes": Req(
        json=lambda w, c: {"household_ids": [w.spare_households[-1]], "relation": "owner"}),
    "POST /api/v1/communities/{community_id}/staff": Req(
        json=lambda w, c: {"username": f"probe{w.next()}", "password": "probe-pass-2026!", "name": "探针"}),
    "POST /api/v1/communities/{community_id}/projects": Req(json={"title": "另一个改造项目"}),
    "GET /api/v1/communities/{community_id}/projects": Req(),
    "GET /api/v1/communities/{community_id}/notices": Req(),
    "GET /api/v1/households/{household_id}/reminders": Req(),
    "PUT /api/v1/households/{household_id}/reminders": Req(json={"opt_out": False}),
    "GET /api/v1/projects/{project_id}": Req(),
    "POST /api/v1/projects/{project_id}/advance": Req(json={"to_stage": "planning", "reason": "征询结束"}, phase=1),
    "POST /api/v1/projects/{project_id}/questionnaires": Req(json={"kind": "needs", "from_catalog": True}),
    "GET /api/v1/projects/{project_id}/questionnaires": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}": Req(),
    "PATCH /api/v1/questionnaires/{questionnaire_id}": Req(ids={"questionnaire_id": "q_patch"},
                                                          json={"title": "改名后的问卷"}),
    "POST /api/v1/questionnaires/{questionnaire_id}/open": Req(ids={"questionnaire_id": "q_open"}, phase=1),
    "POST /api/v1/questionnaires/{questionnaire_id}/close": Req(ids={"questionnaire_id": "q_close"}, phase=1),
    "PUT /api/v1/questionnaires/{questionnaire_id}/response": Req(json=lambda w, c: {"answers": _answers(w)}),
    "GET /api/v1/questionnaires/{questionnaire_id}/response/history": Req(
        query=lambda w, c: {"household_id": w.ids["household_id"]}),
    "POST /api/v1/questionnaires/{questionnaire_id}/paper-responses": Req(
        json=lambda w, c: {"household_id": w.spare_households[1], "answers": _answers(w), "note": "入户"}),
    "GET /api/v1/questionnaires/{questionnaire_id}/results": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/results.csv": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/results.xlsx": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/roll": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/evidence.zip": Req(ids={"questionnaire_id": "q_close"},
                                                                      phase=2),  # after close
    "POST /api/v1/questionnaires/{questionnaire_id}/roll/amendments": Req(
        json=lambda w, c: {"household_id": w.ids["household_id"], "action": "correct", "reason": "核对面积"}),
    "POST /api/v1/projects/{project_id}/plans": Req(json=plan_body()),  # 409 plan.exists: past authorization
    "GET /api/v1/projects/{project_id}/plans": Req(),
    "GET /api/v1/plans/{plan_id}": Req(),
    "POST /api/v1/plans/{plan_id}/revisions": Req(  # supersedes the plan (its motions stop): last
        json={"title": "修订方案", "items": plan_body()["items"]}, phase=3),
    "POST /api/v1/plans/{plan_id}/motions": Req(json=_motion),
    "GET /api/v1/plans/{plan_id}/funding": Req(),
    "PUT /api/v1/plans/{plan_id}/funding/split": Req(
        json=lambda w, c: {"items": [{"item_id": w.ids["plan_item_id"], "split": "by_area"}]}),
    "PUT /api/v1/plans/{plan_id}/pledges": Req(  # staff: 422 without household_id, past authorization
        json=lambda w, c: {"items": [{"item_id": w.ids["plan_item_id"], "amount_fen": 100}]}),
    "POST /api/v1/plans/{plan_id}/pledges:from-questionnaire": Req(
        json=lambda w, c: {"questionnaire_id": w.ids["q_contribution"], "item_id": w.ids["plan_item_id"]}),
    "POST /api/v1/plans/{plan_id}/collections": Req(json=lambda w, c: {
        "household_id": w.ids["household_id"], "item_id": w.ids["plan_item_id"], "amount_fen": 100,
        "received_on": w.now.date().isoformat(), "method": "cash", "receipt_no": f"SEC-{w.next()}"}),
    "POST /api/v1/plans/{plan_id}/refunds": Req(json=lambda w, c: {  # after the collections above
        "household_id": w.ids["household_id"], "item_id": w.ids["plan_item_id"], "amount_fen": 1,
        "refunded_on": w.now.date().isoformat(), "method": "cash", "reason": "多缴退还"}),
    "GET /api/v1/plans/{plan_id}/funding/households": Req(),
    "GET /api/v1/plans/{plan_id}/funding/ledger.xlsx": Req(),
    "GET /api/v1/projects/{project_id}/motions": Req(),
    "GET /api/v1/motions/{motion_id}": Req(),
    "POST /api/v1/motions/{motion_id}/close": Req(ids={"motion_id": "m_close"}, phase=1),
    "GET /api/v1/motions/{motion_id}/tally": Req(),
    "PUT /api/v1/motions/{motion_id}/ballot": Req(json={"choice": "agree"}),
    "POST /api/v1/motions/{motion_id}/paper-ballots": Req(
        data=lambda w, c: {"household_id": w.spare_households[2], "choice": "agree"}, files=_photos("photo")),
    "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/photo": Req(),
    "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/authorisation": Req(),
    "GET /api/v1/motions/{motion_id}/paper-ballots": Req(ids={"motion_id": "m_paper"}, query={"status": "conflict"}),
    "POST /api/v1/motions/{motion_id}/paper-ballots/{slip_id}/resolve": Req(
        ids={"motion_id": "m_paper"}, json={"choice": "agree", "reason": "照片上勾选的是同意"}, phase=1),
    "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/photo": Req(ids={"motion_id": "m_paper"}),
    "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/authorisation": Req(ids={"motion_id": "m_paper"}),
    "GET /api/v1/motions/{motion_id}/ballots": Req(),
    "GET /api/v1/motions/{motion_id}/choices": Req(),
    "GET /api/v1/motions/{motion_id}/roll": Req(),
    "GET /api/v1/motions/{motion_id}/evidence.zip": Req(ids={"motion_id": "m_close"}, phase=2),  # after close
    "GET /api/v1/motions/{motion_id}/slips.pdf": Req(),
    # after close; an objection to a plain notice, not the result: 409 correction.objection_not_on_result
    "POST /api/v1/motions/{motion_id}/corrections": Req(
        ids={"motion_id": "m_close"}, phase=2,
        data=lambda w, c: {"objection_id": w.ids["objection_id"], "action": "void", "ballot_id": "0" * 32,
                           "reason": "核对计票"}),
    "GET /api/v1/motions/{motion_id}/results": Req(ids={"motion_id": "m_close"}, phase=2),
    "POST /api/v1/motions/{motion_id}/roll/amendments": Req(
        json=lambda w, c: {"household_id": w.ids["household_id"], "action": "correct", "reason": "核对面积"}),
    "POST /api/v1/projects/{project_id}/notices": Req(
        json=lambda w, c: {"kind": "other", "title": "停水通知", "body": "周三停水", "start_date": w.now.date().isoformat()}),
    "GET /api/v1/notices/{notice_id}": Req(),
    "GET /api/v1/notices/{notice_id}/poster.pdf": Req(),
    "POST /api/v1/notices/{notice_id}/objections": Req(json={"text": "公示内容有误"}),
    "GET /api/v1/notices/{notice_id}/objections": Req(),
    "POST /api/v1/objections/{objection_id}/resolution": Req(
        ids={"objection_id": "o_resolve"}, json={"decision": "rejected", "reason": "经核实符合规范"}, phase=1),
    "POST /api/v1/notices/{notice_id}/attachments": Req(files=_photos("files")),
    "GET /api/v1/notices/{notice_id}/attachments/{media_id}": Req(ids={"media_id": "attachment_id"}),
    "POST /api/v1/objections/{objection_id}/photos": Req(files=_photos()),
    "GET /api/v1/objections/{objection_id}/photos/{media_id}": Req(ids={"media_id": "objection_photo_id"}),
    "GET /api/v1/motions/{motion_id}/progress": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/progress": Req(),
    "GET /api/v1/motions/{motion_id}/non-responders": Req(),
    "GET /api/v1/questionnaires/{questionnaire_id}/non-responders": Req(),
    "POST /api/v1/motions/{motion_id}/reminders": Req(),
    "POST /api/v1/questionnaires/{questionnaire_id}/reminders": Req(),
    "POST /api/v1/notices/{notice_id}/read": Req(),
    "GET /api/v1/notices/{notice_id}/reads": Req(),
    "POST /api/v1/projects/{project_id}/supervisors": Req(
        json=lambda w, c: {"name": "新监督员", "phone": "13900000001", "source": "resident"}),
    "GET /api/v1/projects/{project_id}/supervisors": Req(),
    "POST /api/v1/projects/{project_id}/contractors": Req(
        json={"name": "新施工员", "phone": "13900000002", "organization": "某建设公司"}),
    "GET /api/v1/projects/{project_id}/contractors": Req(),
    "POST /api/v1/projects/{project_id}/reports": Req(data=REPORT_FORM, files=_photos()),
    "GET /api/v1/projects/{project_id}/reports": Req(),
    "GET /api/v1/reports/{report_id}": Req(),
    "POST /api/v1/reports/{report_id}/photos": Req(files=_photos()),
    "POST /api/v1/reports/{report_id}/transitions": Req(ids={"report_id": "r_transition"},
                                                        json={"action": "acknowledge"}, phase=1),
    "GET /api/v1/projects/{project_id}/supervision-stats": Req(),
    "GET /api/v1/projects/{project_id}/rectification-ledger.xlsx": Req(),
    "GET /api/v1/jurisdictions/{jurisdiction_id}/overdue-reports": Req(),
    "GET /api/v1/jurisdictions/{jurisdiction_id}/supervision-stats": Req(),
    "GET /board/{token}": Req(ids={"token": "board_token"}),  # before the address is rotated (phase 1)
    "GET /api/v1/communities/{community_id}/board-token": Req(),
    "POST /api/v1/communities/{community_id}/board-token": Req(phase=1),
    "DELETE /api/v1/communities/{community_id}/board-token": Req(phase=3),
    "GET /api/v1/photos/{photo_id}": Req(),
    "GET /api/v1/photos/{photo_id}/thumbnail": Req(),
    # recording the acceptance starts the warranty (residents may then file reports): after everything else
    "POST /api/v1/projects/{project_id}/acceptance": Req(json={"remarks": "验收合格", "satisfaction_survey": False},
                                                        phase=2),
    "GET /api/v1/projects/{project_id}/acceptance": Req(phase=3),
    "POST /api/v1/projects/{project_id}/acceptance/signatures": Req(json={"representatives": [{"name": "张三"}]},
                                                                    phase=3),
    "POST /api/v1/projects/{project_id}/acceptance/photos": Req(files=_photos(), phase=3),
    # ---- WeChat's content check: staff's decisions, the push (no token configured here) and the signed URL
    "POST /api/v1/moderation/objections/{objection_id}/approve": Req(ids={"objection_id": "o_moderate"}),
    "POST /api/v1/moderation/objections/{objection_id}/reject": Req(ids={"objection_id": "o_moderate"},
                                                                    json={"reason": "含个人信息"}),
    "POST /api/v1/moderation/reports/{report_id}/approve": Req(ids={"report_id": "r_moderate"}),
    "POST /api/v1/moderation/reports/{report_id}/reject": Req(ids={"report_id": "r_moderate"}),
    "POST /api/v1/moderation/photos/{photo_id}/approve": Req(ids={"photo_id": "moderate_photo_id"}),
    "POST /api/v1/moderation/photos/{photo_id}/reject": Req(ids={"photo_id": "moderate_photo_id"}),
    "GET /api/v1/wechat/events": Req(query={"signature": "0" * 40, "timestamp": "1", "nonce": "2",
                                            "echostr": "echo"}),
    "POST /api/v1/wechat/events": Req(query={"signature": "0" * 40, "timestamp": "1", "nonce": "2"},
                                      content=b"{}", content_type="application/json"),
    "GET /api/v1/wechat/media/{media_id}": Req(ids={"media_id": "photo_id"}, query={"expires": 1, "sig": "0"}),
}


# operations no role can complete in this world: a wrong activation code or invitation (a real one would bind the caller
# to a household of A and change the roles under test), and household choices, which the Laoshan profile
# keeps private from staff (tests/security/test_privacy.py covers the profile that allows them)
NO_SUCCESS = {"POST /api/v1/auth/activate", "POST /api/v1/auth/join", "GET /api/v1/motions/{motion_id}/choices",
              "POST /api/v1/auth/wechat/phone",
              "POST /api/v1/me/subscriptions",  # nobody in this world signed in through WeChat
              # WeChat's push without a configured token, the photo URL without WeChat's signature
              "GET /api/v1/wechat/events", "POST /api/v1/wechat/events", "GET /api/v1/wechat/media/{media_id}"}


async def _refresh_body(client) -> dict:
    return {"refresh_token": await fresh_refresh_token(client)}


async def resolve(v: Body, w: SecWorld, client) -> Any:
    """A request part: the value itself, or what its callable (world, client) returns."""
    if callable(v):
        v = v(w, client)
        if inspect.isawaitable(v):
            v = await v
    return v


def concrete_path(template: str, w: SecWorld, overrides: dict[str, str] | None = None) -> str:
    overrides = overrides or {}
    return re.sub(r"\{(\w+)\}", lambda m: w.ids[overrides.get(m.group(1), m.group(1))], template)


async def call(client, w: SecWorld, key: str, role: str, req: Req | None = None):
    req = req or REQUESTS[key]
    method, template = key.split(" ", 1)
    headers = dict(w.headers[role])
    kwargs: dict[str, Any] = {"headers": headers}
    if (q := await resolve(req.query, w, client)) is not None:
        kwargs["params"] = q
    if (j := await resolve(req.json, w, client)) is not None:
        kwargs["json"] = j
    if (d := await resolve(req.data, w, client)) is not None:
        kwargs["data"] = d
    if req.files is not None:
        kwargs["files"] = req.files()
    if (c := await resolve(req.content, w, client)) is not None:
        kwargs["content"] = c
        headers["Content-Type"] = req.content_type or "application/octet-stream"
    return await client.request(method, concrete_path(template, w, req.ids), **kwargs)
