"""Limits: bad or oversized input gets a clear 4xx, never a 5xx, on every route it can reach.

Body caps (413, declared and streamed), pagination caps (``limit`` ≤ 200 on every list), 100,000-character
strings in every string field of every JSON body, deep JSON, 10,000-element lists, unknown fields (422:
every request model forbids extras), and odd path ids on every route.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from pydantic import BaseModel

from app.core.pagination import MAX_LIMIT
from tests.security.calls import REQUESTS, Req, call, concrete_path, resolve
from tests.security.conftest import app_routes
from tests.security.test_authz_matrix import EXPECTED, OK
from tests.security.world import ADMIN, API, CON, RES_A, STAFF_A, SUP, SecWorld
from tests.voting.helpers import jpeg, setup_motion

LONG = "x" * 100_000
LONG_ZH = "长" * 100_000  # 300,000 bytes of UTF-8
NUL = "a\x00b"  # PostgreSQL cannot store U+0000 in text: it must be refused, not crash the request
ACTORS = (STAFF_A, RES_A, SUP, CON, ADMIN)


def actor(key: str) -> str:
    """A role that may call the operation (from the authorization matrix)."""
    return next((role for role in ACTORS if EXPECTED[key][role] == OK), STAFF_A)


def body_model(route: Any) -> type[BaseModel] | None:
    field = getattr(route, "body_field", None)
    if field is None:
        return None
    ann = field.field_info.annotation
    for t in (ann, *getattr(ann, "__args__", ())):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def json_write_routes(app) -> dict[str, type[BaseModel]]:
    """Operations with a JSON request model (forms and multipart excluded)."""
    out = {}
    for key, route in app_routes(app).items():
        model = body_model(route)
        req = REQUESTS[key]
        if model is not None and req.data is None and req.files is None and req.content is None:
            out[key] = model
    return out


async def send(client: httpx.AsyncClient, w: SecWorld, key: str, *, body: Any = None, raw: bytes | None = None,
               role: str | None = None, ids: dict[str, str] | None = None) -> httpx.Response:
    method, template = key.split(" ", 1)
    req = REQUESTS[key]
    headers = dict(w.headers[role or actor(key)])
    kwargs: dict[str, Any] = {"headers": headers}
    if (q := await resolve(req.query, w, client)) is not None:
        kwargs["params"] = q
    if raw is not None:
        headers["Content-Type"] = "application/json"
        kwargs["content"] = raw
    else:
        kwargs["json"] = body
    path = concrete_path(template, w, req.ids | (ids or {}))
    return await client.request(method, path, **kwargs)


def string_paths(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in string_paths(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in string_paths(v, (*path, i))]
    return []


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return value | {head: replaced(value[head], rest, new)}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def _is_4xx(r: httpx.Response) -> bool:
    return 400 <= r.status_code < 500


# ---- body caps ---------------------------------------------------------------------------------------

def _fake_path(template: str) -> str:
    return re.sub(r"\{\w+\}", "0" * 32, template)


async def test_body_over_the_cap_is_413_on_every_json_route(app, client, world, clock) -> None:
    """Over REQUEST_MAX_BYTES (1 MiB) with a Content-Length: 413 before any handler runs."""
    big = json.dumps({"title": "x" * (app.state.settings.request_max_bytes + 10)}).encode()
    failures = []
    for key in json_write_routes(app):
        method, template = key.split(" ", 1)
        r = await client.request(method, _fake_path(template), content=big,
                                 headers=world.staff | {"Content-Type": "application/json"})
        if r.status_code != 413 or r.json()["code"] != "request.too_large":
            failures.append(f"{key}: {r.status_code}")
    assert not failures, failures
    # a CSV import has its own cap (5 MiB), and an uploaded photo its own (PHOTO_MAX_BYTES, 10 MiB)
    csv = b"building,unit,room,area_m2,owner_key\n" + b"1,1,999,50.00,\n" * 400_000
    r = await client.post(f"{API}/communities/{world.community_id}/households:import", headers=world.staff,
                          content=csv, params={})
    assert r.status_code == 413, r.text
    _, _, motion = await setup_motion(client, world, clock.now())
    photo = b"\xff\xd8\xff\xe0" + b"\0" * app.state.settings.photo_max_bytes
    r = await client.post(f"{API}/motions/{motion['id']}/paper-ballots", headers=world.staff,
                          data={"household_id": world.households[5]["id"], "choice": "agree"},
                          files={"photo": ("slip.jpg", photo, "image/jpeg")})
    assert r.status_code == 413, r.text


async def test_streamed_body_over_the_cap_is_413(app, client, world) -> None:
    """The same body sent chunked (no Content-Length): counted while read, refused with 413 as well."""
    big = json.dumps({"title": "x" * (app.state.settings.request_max_bytes + 10)}).encode()

    async def chunks():
        for i in range(0, len(big), 64 * 1024):
            yield big[i:i + 64 * 1024]

    answers: dict[str, list[str]] = {}
    routes = json_write_routes(app)
    for key in routes:
        method, template = key.split(" ", 1)
        r = await client.request(method, _fake_path(template), content=chunks(),
                                 headers=world.staff | {"Content-Type": "application/json"})
        answers.setdefault(f"{r.status_code} {r.json().get('code')}", []).append(key)
    # a streamed over-cap body must be answered 413, not as if it were malformed
    assert set(answers) == {"413 request.too_large"}, {k: f"{len(v)} of {len(routes)} routes, e.g. {v[:2]}"
                                                       for k, v in answers.items()}


# ---- pagination -----------------------------------------------------------------------------------

async def test_limit_over_200_is_422_on_every_list(app, client, sec_world) -> None:
    w = sec_world
    lists = [f"GET {p}" for p, ops in app.openapi()["paths"].items()
             if any(prm["name"] == "limit" for prm in ops.get("get", {}).get("parameters", []))]
    assert len(lists) >= 10
    for key in lists:
        role = actor(key) if key != "GET /api/v1/motions/{motion_id}/choices" else STAFF_A
        for bad in (MAX_LIMIT + 1, 10_000, 0, -1, "abc", "1e3"):
            r = await call(client, w, key, role, Req(**(REQUESTS[key].__dict__ | {"query": {"limit": bad}})))
            assert r.status_code == 422, (key, bad, r.status_code)
            assert r.json()["errors"][0]["loc"][-1] == "limit"
        r = await call(client, w, key, role, Req(**(REQUESTS[key].__dict__ | {"query": {"limit": MAX_LIMIT}})))
        assert r.status_code != 422, (key, r.text)
        for cursor in ("!!!not-base64!!!", "x" * 301, "%00", "////"):
            r = await call(client, w, key, role, Req(**(REQUESTS[key].__dict__ | {"query": {"cursor": cursor}})))
            assert _is_4xx(r) or r.status_code == 200, (key, cursor, r.status_code)


# ---- strings, unknown fields, deep JSON, huge lists ---------------------------------------------

async def test_json_bodies_long_strings_unknown_fields_deep_json(app, client, sec_world) -> None:
    """Every JSON request body of the app: an unknown field → 422; a 100,000-character string (ASCII or
    Chinese) in any string field → 4xx; a NUL character in any string field → never a 5xx; JSON nested 500
    or 100,000 deep (as the body, or in an extra field) → 4xx."""
    w = sec_world
    routes = json_write_routes(app)
    assert len(routes) >= 25
    failures: list[str] = []
    not_forbidding = sorted(k for k, m in routes.items() if m.model_config.get("extra") != "forbid")
    assert not not_forbidding, f"request models that accept unknown fields: {not_forbidding}"
    for key, model in routes.items():
        valid = await resolve(REQUESTS[key].json, w, client) or {}
        # 1. an unknown field: 422 naming it
        r = await send(client, w, key, body=valid | {"zz_unknown": 1})
        if r.status_code != 422 or "zz_unknown" not in json.dumps(r.json().get("errors")):
            failures.append(f"{key}: unknown field → {r.status_code}")
        # 2. a 100,000-character string in every string field (given, and every optional top-level one)
        paths = string_paths(valid)
        paths += [(name,) for name, f in model.model_fields.items()
                  if (name,) not in paths and "str" in str(f.annotation) and "Literal" not in str(f.annotation)]
        for p in paths:
            for long in (LONG, LONG_ZH, NUL):
                r = await send(client, w, key, body=replaced(valid, p, long) if p[0] in valid else valid | {p[0]: long})
                if long is NUL and r.status_code >= 500:
                    failures.append(f"{key}: {'.'.join(map(str, p))} with a NUL character → {r.status_code}")
                elif long is not NUL and not _is_4xx(r):
                    failures.append(f"{key}: {'.'.join(map(str, p))} of {len(long)} chars → {r.status_code}")
        # 3. deep JSON, as the whole body and inside the body
        for depth in (500, 100_000):
            deep = "[" * depth + "]" * depth
            for raw in (deep, json.dumps(valid)[:-1] + ', "zz_deep": ' + deep + "}" if valid else deep):
                r = await send(client, w, key, raw=raw.encode())
                if not _is_4xx(r):
                    failures.append(f"{key}: JSON nested {depth} deep → {r.status_code}")
    assert not failures, "\n".join(failures)


async def test_deep_values_and_huge_lists(client, sec_world) -> None:
    """Fields that take arbitrary JSON (an answer's value, a motion's rule): deep or huge → 4xx; every list
    of a request (answers, questions, options, plan items, funding, household ids, representatives, photo
    ids, attachments, uploaded photos) with 10,000 elements → 413/422."""
    w = sec_world
    q = w.ids["question_id"]
    respond, paper = ("PUT /api/v1/questionnaires/{questionnaire_id}/response",
                      "POST /api/v1/questionnaires/{questionnaire_id}/paper-responses")
    motion = "POST /api/v1/plans/{plan_id}/motions"
    motion_body = await resolve(REQUESTS[motion].json, w, client)
    failures: list[str] = []

    def check(what: str, r: httpx.Response) -> None:
        if not _is_4xx(r):
            failures.append(f"{what}: {r.status_code} {r.text[:100]}")

    for depth in (50, 300, 900, 100_000):
        for shape, value in (("array", "[" * depth + "]" * depth), ("object", '{"a":' * depth + "1" + "}" * depth)):
            raw = f'{{"answers": [{{"question_id": "{q}", "value": {value}}}]}}'
            check(f"{respond}: value nested {depth} deep ({shape})", await send(client, w, respond, raw=raw.encode()))
            raw = (f'{{"household_id": "{w.spare_households[1]}", '
                   f'"answers": [{{"question_id": "{q}", "value": {value}}}]}}')
            check(f"{paper}: value nested {depth} deep ({shape})", await send(client, w, paper, raw=raw.encode()))
            raw = json.dumps(motion_body)[:-1] + f', "rule": {{"kind": {value}}}}}'
            check(f"{motion}: rule nested {depth} deep ({shape})", await send(client, w, motion, raw=raw.encode()))
    many_keys = {f"item{i}": "want" for i in range(10_000)}
    for value in (many_keys, list(range(10_000)), LONG, 10**100, -(10**100), 1e308, None):
        what = f"value {str(value)[:30]}"
        answers = [{"question_id": q, "value": value}]
        check(f"{respond}: {what}", await send(client, w, respond, body={"answers": answers}))
        check(f"{paper}: {what}", await send(client, w, paper, body={
            "household_id": w.spare_households[1], "answers": [{"question_id": q, "value": value}]}))
    check(f"{motion}: rule with 10,000 keys", await send(client, w, motion, body=motion_body | {"rule": many_keys}))
    failures += await _ten_thousand_element_lists(client, w)
    assert not failures, "\n".join(failures)


async def _ten_thousand_element_lists(client: httpx.AsyncClient, w: SecWorld) -> list[str]:
    failures: list[str] = []
    q = w.ids["question_id"]
    answers = [{"question_id": q, "value": True}] * 10_000
    item = {"catalog": "qingdao", "catalog_seq": 1, "title": "屋面防水", "budget_fen": 100}
    cases: list[tuple[str, Any]] = [
        ("PUT /api/v1/questionnaires/{questionnaire_id}/response", {"answers": answers}),
        ("POST /api/v1/questionnaires/{questionnaire_id}/paper-responses",
         {"household_id": w.spare_households[1], "answers": answers}),
        ("POST /api/v1/projects/{project_id}/questionnaires",
         {"kind": "needs", "questions": [{"type": "yes_no", "text": "同意吗"}] * 10_000}),
        ("POST /api/v1/projects/{project_id}/questionnaires",
         {"kind": "needs", "questions": [{"type": "single_choice", "text": "选一项",
                                          "options": [{"text": "甲"}] * 10_000}]}),
        ("POST /api/v1/projects/{project_id}/questionnaires",
         {"kind": "needs", "questions": [{"type": "catalog_items", "text": "需要哪些", "items": list(range(10_000))}]}),
        ("PATCH /api/v1/questionnaires/{questionnaire_id}",
         {"questions": [{"type": "yes_no", "text": "同意吗"}] * 10_000}),
        ("POST /api/v1/projects/{project_id}/plans", {"title": "方案", "items": [item] * 10_000}),
        ("POST /api/v1/projects/{project_id}/plans",
         {"title": "方案", "items": [item], "funding": [{"source": "residents", "amount_fen": 1}] * 10_000}),
        ("POST /api/v1/plans/{plan_id}/revisions", {"title": "方案", "items": [item] * 10_000}),
        ("POST /api/v1/communities/{community_id}/activation-codes", {"household_ids": ["x" * 32] * 10_000}),
        ("POST /api/v1/projects/{project_id}/acceptance", {"representatives": [{"name": "张三"}] * 10_000}),
        ("POST /api/v1/projects/{project_id}/acceptance/signatures", {"representatives": [{"name": "张三"}] * 10_000}),
        ("POST /api/v1/reports/{report_id}/transitions", {"action": "rectify", "photo_ids": ["x" * 32] * 10_000}),
        ("POST /api/v1/projects/{project_id}/notices",
         {"kind": "other", "title": "通知", "start_date": "2026-11-24", "attachments": [{"media_id": "x"}] * 10_000}),
    ]
    for key, body in cases:
        r = await send(client, w, key, body=body)
        if r.status_code not in (413, 422):
            failures.append(f"{key} with a 10,000-element list: {r.status_code} {r.text[:100]}")
    # multipart: ten photos (the cap is nine), and a thousand and one parts
    url = f"{API}/projects/{w.ids['project_id']}/reports"
    form = {"catalog_item": "外墙保温", "severity": "minor", "description": "地砖松动"}
    photo = jpeg()
    r = await client.post(url, headers=w.headers[SUP], data=form,
                          files=[("photos", ("a.jpg", photo, "image/jpeg"))] * 10)
    if r.status_code != 422 or r.json()["code"] != "report.too_many_photos":
        failures.append(f"ten photos: {r.status_code}")
    r = await client.post(url, headers=w.headers[SUP], data=form,
                          files=[("photos", ("a.jpg", b"x", "image/jpeg"))] * 1001)
    if not _is_4xx(r):
        failures.append(f"1,001 multipart parts: {r.status_code}")
    # form and multipart strings
    for what, r in (
        ("report form description", await client.post(url, headers=w.headers[SUP], data=form | {"description": LONG},
                                                      files=[("photos", ("a.jpg", photo, "image/jpeg"))])),
        ("sign-in form", await client.post(f"{API}/auth/token", data={"username": LONG, "password": LONG})),
        ("paper ballot household_id", await client.post(
            f"{API}/motions/{w.ids['motion_id']}/paper-ballots", headers=w.headers[STAFF_A],
            data={"household_id": LONG, "choice": "agree"}, files={"photo": ("a.jpg", photo, "image/jpeg")})),
    ):
        if r.status_code != 422:
            failures.append(f"{what} of 100,000 characters: {r.status_code}")
    return failures


# ---- odd path ids ---------------------------------------------------------------------------------

ODD_IDS = ("..%2F..%2Fetc%2Fpasswd", "x" * 3000, "房屋１２３号%F0%9F%98%80", "a%00b", "'%20OR%20'1'='1",
           "0" * 32)


async def test_odd_path_ids_are_404_or_422_never_500(app, client, sec_world) -> None:
    w = sec_world
    failures: list[str] = []
    for key in REQUESTS:
        method, template = key.split(" ", 1)
        if "{" not in template:
            continue
        role = STAFF_A if EXPECTED[key][STAFF_A] == OK else actor(key) if OK in EXPECTED[key].values() else ADMIN
        req = REQUESTS[key]
        for odd in ODD_IDS:
            # one parameter at a time is odd, the others are real
            for name in {n.strip("{}") for n in template.split("/") if n.startswith("{")}:
                path = concrete_path(template, w, req.ids)
                real = w.ids[req.ids.get(name, name)]
                path = path.replace(real, odd, 1)
                kwargs: dict[str, Any] = {"headers": w.headers[role]}
                if (j := await resolve(req.json, w, client)) is not None:
                    kwargs["json"] = j
                if (d := await resolve(req.data, w, client)) is not None:
                    kwargs["data"] = d
                if req.files is not None:
                    kwargs["files"] = req.files()
                if (q := await resolve(req.query, w, client)) is not None:
                    kwargs["params"] = q
                r = await client.request(method, path, **kwargs)
                if r.status_code not in (400, 404, 405, 422):
                    failures.append(f"{key} {name}={odd[:20]!r}: {r.status_code} {r.text[:120]}")
    # string query parameters, odd in the same ways: a 4xx or a plain answer, never a 5xx
    queries = [("GET /api/v1/questionnaires/{questionnaire_id}/response/history", "household_id"),
               ("GET /api/v1/projects/{project_id}/reports", "building_id"),
               ("GET /api/v1/motions/{motion_id}/non-responders", "building_id"),
               ("GET /api/v1/questionnaires/{questionnaire_id}/non-responders", "unit_id"),
               ("GET /api/v1/communities/{community_id}/notices", "cursor")]
    for key, name in queries:
        for odd in ("a\x00b", "x" * 3000, "房屋１２３号😀", "' OR '1'='1", "0" * 32):
            r = await client.get(concrete_path(key.split(" ", 1)[1], w), headers=w.headers[STAFF_A],
                                 params={name: odd})
            if r.status_code >= 500:
                failures.append(f"{key} ?{name}={odd[:20]!r}: {r.status_code}")
    assert not failures, "\n".join(failures)
