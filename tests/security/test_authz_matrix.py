"""The authorization matrix: every operation the app serves × eight roles → the expected status.

``EXPECTED`` is checked against the app's route list, so a new route without an entry fails this test.
Requests use the real ids of community A. Outsiders (anonymous, resident and staff of community B) must
get exactly 401 / 404 for anything of community A (its existence is not revealed); a related role without
the permission gets exactly 403 (or 404 where the resource is hidden from it). A role that is allowed may
get any answer that is past authorization (``OK``: 2xx, 409 or 422) — the matrix checks authorization,
the domains' own tests check the outcomes. Each route must also reach its business logic for at least one
role (a 2xx or a 409), which proves the request bodies here are valid: an invalid body would answer 422
before authorization and make the denials meaningless.
"""

from __future__ import annotations

from typing import Any

from tests.security.calls import NO_SUCCESS, REQUESTS, call
from tests.security.conftest import app_routes
from tests.security.world import (
    ADMIN,
    ANON,
    CON,
    RES_A,
    RES_B,
    ROLES,
    STAFF_A,
    STAFF_B,
    SUP,
)

OK = frozenset({200, 201, 202, 204, 409, 422})  # allowed: the request got past authorization
OUTSIDERS = {ANON: 401, RES_B: 404, STAFF_B: 404}
GONE = frozenset({204, 404})  # a removal: the first allowed caller removes, the next find nobody
REVOKED = frozenset({204, 410})  # a revocation: the first allowed caller revokes, the next find it revoked


def A(resident_a, supervisor, contractor, staff_a, admin) -> dict[str, Any]:  # noqa: N802 - a table column
    """Something of community A: outsiders get 401/404; the five roles related to A as given."""
    return OUTSIDERS | {RES_A: resident_a, SUP: supervisor, CON: contractor, STAFF_A: staff_a, ADMIN: admin}


PUBLIC = {r: OK for r in ROLES}
SIGNED_IN = {r: OK for r in ROLES} | {ANON: 401}
GLOBAL_ADMIN = {r: 403 for r in ROLES} | {ANON: 401, ADMIN: OK}
JURISDICTION = {r: 404 for r in ROLES} | {ANON: 401, ADMIN: OK}  # only admins relate to a jurisdiction
# the street office's views: its admins all of it; staff of its communities (A and B) their own part
STREET_OFFICE = JURISDICTION | {STAFF_A: OK, STAFF_B: OK}

# Reading the table: the five columns of A(...) are resident_a, supervisor, contractor, staff_a, admin.
EXPECTED: dict[str, dict[str, Any]] = {
    # ---- ops and sign-in: public
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "POST /api/v1/auth/token": PUBLIC,
    "POST /api/v1/auth/refresh": PUBLIC,
    "POST /api/v1/auth/logout": PUBLIC,
    "POST /api/v1/auth/wechat": PUBLIC,
    "POST /api/v1/auth/activate": {r: 400 for r in ROLES},  # a wrong code: the same answer for everyone
    "POST /api/v1/auth/join": {r: 400 for r in ROLES},  # likewise a wrong invitation
    # the verified phone number: only a user signed in through WeChat (nobody here; tests/auth/test_wechat.py)
    "POST /api/v1/auth/wechat/phone": {r: 403 for r in ROLES} | {ANON: 401},
    # one-time subscriptions accepted in the mini-program: likewise only a user signed in through WeChat
    "POST /api/v1/me/subscriptions": {r: 403 for r in ROLES} | {ANON: 401},
    "GET /api/v1/me": SIGNED_IN,
    "GET /api/v1/catalogs/{name}": SIGNED_IN,
    "GET /api/v1/calendar/window": SIGNED_IN,
    "GET /api/v1/ballot-receipts/{receipt}": PUBLIC,  # anyone holding the receipt (choice: household only)
    # ---- jurisdictions: global admin
    "POST /api/v1/jurisdictions": GLOBAL_ADMIN,
    "GET /api/v1/jurisdictions": SIGNED_IN,  # filtered: what GET …/{id} serves the caller (tests/register)
    "GET /api/v1/communities": SIGNED_IN,  # filtered likewise
    "GET /api/v1/jurisdictions/{jurisdiction_id}": JURISDICTION,
    "PUT /api/v1/jurisdictions/{jurisdiction_id}/profile": JURISDICTION,
    "POST /api/v1/jurisdictions/{jurisdiction_id}/admins": JURISDICTION,  # global admins; its own admins 403
    "GET /api/v1/jurisdictions/{jurisdiction_id}/profile/versions": JURISDICTION,
    "GET /api/v1/jurisdictions/{jurisdiction_id}/ranking": JURISDICTION,
    "POST /api/v1/communities": JURISDICTION,
    "POST /api/v1/ops/reminders:run": GLOBAL_ADMIN,
    # ---- community A (supervisor/contractor relate to the project only: 404 on community-wide things)
    #                                                         res_a sup  con  staff admin
    "GET /api/v1/communities/{community_id}":                 A(OK, 404, 404, OK, OK),
    "POST /api/v1/communities/{community_id}/households:import": A(403, 404, 404, OK, OK),
    "GET /api/v1/communities/{community_id}/households":      A(403, 404, 404, OK, OK),
    "GET /api/v1/communities/{community_id}/buildings":       A(403, 404, 404, OK, OK),
    "POST /api/v1/communities/{community_id}/households":     A(403, 404, 404, OK, OK),
    "PATCH /api/v1/households/{household_id}":                A(403, 404, 404, OK, OK),
    "GET /api/v1/households/{household_id}/members":          A(OK, 404, 404, OK, OK),
    "POST /api/v1/households/{household_id}/transfer":        A(403, 404, 404, OK, OK),  # a spare household
    "POST /api/v1/households/{household_id}/deactivate":      A(403, 404, 404, OK, OK),  # another spare one
    "POST /api/v1/households/{household_id}/reactivate":      A(403, 404, 404, OK, OK),  # … restored later
    # resident A owns the household: they take the family member off (204); whoever comes after them finds no
    # such member (404)
    "DELETE /api/v1/households/{household_id}/members/{user_id}": A(GONE, 404, 404, GONE, GONE),
    # invitations: the household's owner (resident A) and staff; the first to revoke gets 204, the others 410
    "POST /api/v1/households/{household_id}/invites":         A(OK, 404, 404, OK, OK),
    "GET /api/v1/households/{household_id}/invites":          A(OK, 404, 404, OK, OK),
    "DELETE /api/v1/households/{household_id}/invites/{invite_id}": A(REVOKED, 404, 404, REVOKED, REVOKED),
    "POST /api/v1/communities/{community_id}/activation-codes": A(403, 404, 404, OK, OK),
    "POST /api/v1/communities/{community_id}/staff":          A(403, 404, 404, 403, OK),
    "POST /api/v1/communities/{community_id}/projects":       A(403, 404, 404, OK, OK),
    "GET /api/v1/communities/{community_id}/projects":        A(OK, OK, OK, OK, OK),  # sup/con: their own
    "GET /api/v1/communities/{community_id}/notices":         A(OK, OK, OK, OK, OK),
    "GET /api/v1/households/{household_id}/reminders":        A(OK, 404, 404, 403, 403),  # members only
    "PUT /api/v1/households/{household_id}/reminders":        A(OK, 404, 404, 403, 403),
    # ---- the project
    "GET /api/v1/projects/{project_id}":                      A(OK, OK, OK, OK, OK),
    "POST /api/v1/projects/{project_id}/advance":             A(403, 403, 403, OK, OK),
    # ---- surveys
    "POST /api/v1/projects/{project_id}/questionnaires":      A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/questionnaires":       A(OK, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}":          A(OK, 403, 403, OK, OK),
    "PATCH /api/v1/questionnaires/{questionnaire_id}":        A(403, 403, 403, OK, OK),
    "POST /api/v1/questionnaires/{questionnaire_id}/open":    A(403, 403, 403, OK, OK),
    "POST /api/v1/questionnaires/{questionnaire_id}/close":   A(403, 403, 403, OK, OK),
    "PUT /api/v1/questionnaires/{questionnaire_id}/response": A(OK, 403, 403, 403, 403),
    "GET /api/v1/questionnaires/{questionnaire_id}/response/history": A(OK, 403, 403, OK, OK),
    "POST /api/v1/questionnaires/{questionnaire_id}/paper-responses": A(403, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}/results":  A(403, 403, 403, OK, OK),  # residents: after close
    "GET /api/v1/questionnaires/{questionnaire_id}/results.csv": A(403, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}/results.xlsx": A(403, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}/roll":     A(OK, 403, 403, OK, OK),  # residents: own entry
    "GET /api/v1/questionnaires/{questionnaire_id}/evidence.zip": A(403, 403, 403, OK, OK),  # staff, after close
    "POST /api/v1/questionnaires/{questionnaire_id}/roll/amendments": A(403, 403, 403, OK, OK),
    # ---- plans, motions, ballots
    "POST /api/v1/projects/{project_id}/plans":               A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/plans":                A(OK, 403, 403, OK, OK),
    "GET /api/v1/plans/{plan_id}":                            A(OK, 403, 403, OK, OK),
    "POST /api/v1/plans/{plan_id}/revisions":                 A(403, 403, 403, OK, OK),
    "POST /api/v1/plans/{plan_id}/motions":                   A(403, 403, 403, OK, OK),
    # ---- funding: the residents' share of plan items (residents: their own household's pledges)
    "GET /api/v1/plans/{plan_id}/funding":                    A(OK, 403, 403, OK, OK),
    "PUT /api/v1/plans/{plan_id}/funding/split":              A(403, 403, 403, OK, OK),
    "PUT /api/v1/plans/{plan_id}/pledges":                    A(OK, 403, 403, OK, OK),  # staff: paper pledges
    "POST /api/v1/plans/{plan_id}/pledges:from-questionnaire": A(403, 403, 403, OK, OK),
    "POST /api/v1/plans/{plan_id}/collections":               A(403, 403, 403, OK, OK),
    "POST /api/v1/plans/{plan_id}/refunds":                   A(403, 403, 403, OK, OK),
    "GET /api/v1/plans/{plan_id}/funding/households":         A(403, 403, 403, OK, OK),
    "GET /api/v1/plans/{plan_id}/funding/ledger.xlsx":        A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/motions":              A(OK, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}":                        A(OK, 403, 403, OK, OK),
    "POST /api/v1/motions/{motion_id}/close":                 A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/tally":                  A(403, 403, 403, OK, OK),  # residents: after close
    "PUT /api/v1/motions/{motion_id}/ballot":                 A(OK, 403, 403, 403, 403),
    "POST /api/v1/motions/{motion_id}/paper-ballots":         A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/photo": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/paper-ballots/{ballot_id}/authorisation": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/paper-ballots":          A(403, 403, 403, OK, OK),
    "POST /api/v1/motions/{motion_id}/paper-ballots/{slip_id}/resolve": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/photo": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/paper-entries/{entry_id}/authorisation": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/ballots":                A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/choices":                A(403, 403, 403, 403, 403),  # staff_see_choices off
    "GET /api/v1/motions/{motion_id}/roll":                   A(OK, 403, 403, OK, OK),  # residents: own entries
    "GET /api/v1/motions/{motion_id}/evidence.zip":           A(403, 403, 403, OK, OK),  # staff, after close
    "GET /api/v1/motions/{motion_id}/slips.pdf":              A(403, 403, 403, OK, OK),  # who enters paper
    "POST /api/v1/motions/{motion_id}/corrections":           A(403, 403, 403, OK, OK),  # staff, after close
    "GET /api/v1/motions/{motion_id}/results":                A(403, 403, 403, OK, OK),  # staff
    "POST /api/v1/motions/{motion_id}/roll/amendments":       A(403, 403, 403, OK, OK),
    # ---- publicity
    "POST /api/v1/projects/{project_id}/notices":             A(403, 403, 403, OK, OK),
    "GET /api/v1/notices/{notice_id}":                        A(OK, OK, OK, OK, OK),
    "GET /api/v1/notices/{notice_id}/poster.pdf":             A(403, 403, 403, OK, OK),  # staff print it
    "POST /api/v1/notices/{notice_id}/objections":            A(OK, 403, 403, 403, 403),
    "GET /api/v1/notices/{notice_id}/objections":             A(OK, OK, OK, OK, OK),
    "POST /api/v1/objections/{objection_id}/resolution":      A(403, 403, 403, OK, OK),
    "POST /api/v1/notices/{notice_id}/attachments":           A(403, 403, 403, OK, OK),
    "GET /api/v1/notices/{notice_id}/attachments/{media_id}": A(OK, OK, OK, OK, OK),
    "POST /api/v1/objections/{objection_id}/photos":          A(OK, 403, 403, 403, 403),  # the filer
    "GET /api/v1/objections/{objection_id}/photos/{media_id}": A(OK, 404, 404, OK, OK),  # pending: filer, staff
    # ---- turnout
    "GET /api/v1/motions/{motion_id}/progress":               A(403, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}/progress": A(403, 403, 403, OK, OK),
    "GET /api/v1/motions/{motion_id}/non-responders":         A(403, 403, 403, OK, OK),
    "GET /api/v1/questionnaires/{questionnaire_id}/non-responders": A(403, 403, 403, OK, OK),
    "POST /api/v1/motions/{motion_id}/reminders":             A(403, 403, 403, OK, OK),
    "POST /api/v1/questionnaires/{questionnaire_id}/reminders": A(403, 403, 403, OK, OK),
    "POST /api/v1/notices/{notice_id}/read":                  A(OK, OK, OK, OK, OK),
    "GET /api/v1/notices/{notice_id}/reads":                  A(403, 403, 403, OK, OK),
    # ---- supervision
    "POST /api/v1/projects/{project_id}/supervisors":         A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/supervisors":          A(OK, OK, OK, OK, OK),
    "POST /api/v1/projects/{project_id}/contractors":         A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/contractors":          A(OK, OK, OK, OK, OK),
    "POST /api/v1/projects/{project_id}/reports":             A(403, OK, 403, 403, 403),  # residents: warranty only
    "GET /api/v1/projects/{project_id}/reports":              A(OK, OK, OK, OK, OK),  # filtered per role
    "GET /api/v1/reports/{report_id}":                        A(403, OK, OK, OK, OK),  # contractor: assigned
    "POST /api/v1/reports/{report_id}/photos":                A(403, 403, OK, 403, 403),  # the assignee
    "POST /api/v1/reports/{report_id}/transitions":           A(403, 403, 404, OK, OK),  # not assigned: hidden
    "GET /api/v1/projects/{project_id}/supervision-stats":    A(403, OK, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/rectification-ledger.xlsx": A(403, 403, 403, OK, OK),
    "GET /api/v1/jurisdictions/{jurisdiction_id}/overdue-reports": STREET_OFFICE,
    "GET /api/v1/jurisdictions/{jurisdiction_id}/supervision-stats": STREET_OFFICE,
    # ---- the lobby board: its page is public (anyone holding the address); its address is the staff's
    "GET /board/{token}":                                     PUBLIC,
    "GET /api/v1/communities/{community_id}/board-token":     A(403, 404, 404, OK, OK),
    "POST /api/v1/communities/{community_id}/board-token":    A(403, 404, 404, OK, OK),
    "DELETE /api/v1/communities/{community_id}/board-token":  A(403, 404, 404, OK, OK),
    "GET /api/v1/photos/{photo_id}":                          A(404, OK, OK, OK, OK),
    "GET /api/v1/photos/{photo_id}/thumbnail":                A(404, OK, OK, OK, OK),
    "POST /api/v1/projects/{project_id}/acceptance":          A(403, 403, 403, OK, OK),
    "GET /api/v1/projects/{project_id}/acceptance":           A(OK, OK, OK, OK, OK),
    "POST /api/v1/projects/{project_id}/acceptance/signatures": A(403, 403, 403, OK, OK),
    "POST /api/v1/projects/{project_id}/acceptance/photos":   A(403, 403, 403, OK, OK),
    # ---- WeChat's content check: staff decide; the push and the photo URL carry WeChat's signature, not a user
    "POST /api/v1/moderation/objections/{objection_id}/approve": A(403, 403, 403, OK, OK),
    "POST /api/v1/moderation/objections/{objection_id}/reject": A(403, 403, 403, OK, OK),
    "POST /api/v1/moderation/reports/{report_id}/approve":    A(403, 403, 403, OK, OK),
    "POST /api/v1/moderation/reports/{report_id}/reject":     A(403, 403, 403, OK, OK),
    "POST /api/v1/moderation/photos/{photo_id}/approve":      A(403, 403, 403, OK, OK),
    "POST /api/v1/moderation/photos/{photo_id}/reject":       A(403, 403, 403, OK, OK),
    "GET /api/v1/wechat/events":                              {r: 401 for r in ROLES},  # bad signature
    "POST /api/v1/wechat/events":                             {r: 401 for r in ROLES},
    "GET /api/v1/wechat/media/{media_id}":                    {r: 404 for r in ROLES},  # unsigned
}


def _matches(status: int, expected: int | frozenset[int]) -> bool:
    return status in expected if isinstance(expected, frozenset) else status == expected


async def test_every_route_has_an_entry(app) -> None:
    """A route added to the app without a row here (or a row for a route that is gone) fails."""
    served = set(app_routes(app))
    assert served == set(EXPECTED), {"missing from EXPECTED": sorted(served - set(EXPECTED)),
                                     "not served": sorted(set(EXPECTED) - served)}
    assert set(REQUESTS) == set(EXPECTED)
    for key, row in EXPECTED.items():
        assert set(row) == set(ROLES), key


async def test_authorization_matrix(app, client, sec_world) -> None:
    w = sec_world
    served = set(app_routes(app))
    assert served == set(EXPECTED)
    order = sorted(EXPECTED, key=lambda k: REQUESTS[k].phase)  # stable: table order within a phase
    failures: list[str] = []
    for key in order:
        got: dict[str, int] = {}
        for role in ROLES:
            r = await call(client, w, key, role)
            got[role] = r.status_code
            expected = EXPECTED[key][role]
            if not _matches(r.status_code, expected):
                want = "any of OK" if expected == OK else expected
                failures.append(f"{key} as {role}: {r.status_code} (expected {want}) {r.text[:160]}")
        if key not in NO_SUCCESS and not any(200 <= s < 300 or s == 409 for s in got.values()):
            failures.append(f"{key}: no role got past validation into the service: {got}")
    assert not failures, "\n".join(failures)

    # where a role is allowed a list, it is the filtered one
    api, pid = "/api/v1", w.ids["project_id"]
    r = await client.get(f"{api}/communities/{w.ids['community_id']}/projects", headers=w.headers[SUP])
    assert {p["id"] for p in r.json()["items"]} == {pid}  # staff and admin made more projects above
    r = await client.get(f"{api}/communities/{w.ids['community_id']}/projects", headers=w.headers[STAFF_A])
    assert len(r.json()["items"]) > 1
    reports = {role: (await client.get(f"{api}/projects/{pid}/reports", headers=w.headers[role])).json()["items"]
               for role in (SUP, CON, RES_A)}
    assert len(reports[SUP]) >= 3
    assert reports[CON] and {x["assignee_id"] for x in reports[CON]} == {w.user_ids[CON]}
    assert reports[RES_A] == []  # a resident sees the reports they filed: none
    r = await client.get(f"{api}/notices/{w.ids['notice_id']}/objections", headers=w.headers[SUP])
    assert {o["status"] for o in r.json()["items"]} == {"rejected"}  # pending ones: the filer and staff only
    # the street office's views: staff of community B see B's part only (none of A's reports)
    r = await client.get(f"{api}/jurisdictions/{w.ids['jurisdiction_id']}/supervision-stats",
                         headers=w.headers[STAFF_B])
    assert (r.json()["community_ids"], r.json()["reports"]) == ([w.community_b], 0)
