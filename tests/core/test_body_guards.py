"""The NUL and nesting guards see a body as the framework parses it, whatever the headers say.

Several Content-Type headers are refused (Starlette reads the first, a dict the last); a single odd
header is judged by FastAPI's own test (``application/json\\xa0`` is JSON to it); multipart fields are
checked as the endpoint gets them, once parsed, by a dependency every endpoint with a form body has (files may
hold any byte), and must be declared UTF-8 or carry no charset (a UTF-7 ``+AAA-`` is a NUL).
"""

from __future__ import annotations

import json

import httpx
from fastapi import params
from fastapi.routing import APIRoute
from sqlalchemy import func
from sqlmodel import select

from app.core.limits import MAX_JSON_DEPTH, form_without_nul, parsed_as_json
from app.projects.models import Project
from tests.factories import World
from tests.media.imaging import phone_jpeg
from tests.supervision.helpers import REPORT_FIELDS, counts, file_report, project_with_people

JSON, TEXT = "application/json", "text/plain"
NUL_TITLE = b'{"title": "a\\u0000b"}'
DEEP = 40
DEEP_TITLE = json.dumps({"title": "deep", "description": "x"})[:-1].encode() + b', "zz": ' + b"[" * DEEP + b"]" * DEEP + b"}"


async def projects(app) -> int:
    async with app.state.db.read_session() as s:
        return int((await s.exec(select(func.count()).select_from(Project))).one())


async def post_project(client: httpx.AsyncClient, world: World, body: bytes,
                       content_types: list[str | bytes]) -> httpx.Response:
    headers = [("authorization", world.staff["Authorization"]), *[("content-type", c) for c in content_types]]
    return await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=headers, content=body)


async def test_several_content_types_are_refused_in_either_order(app, client, world) -> None:
    assert DEEP > MAX_JSON_DEPTH
    before = await projects(app)
    for order in ([JSON, TEXT], [TEXT, JSON], [JSON, JSON]):
        for body in (NUL_TITLE, DEEP_TITLE):
            r = await post_project(client, world, body, order)
            assert r.status_code == 400 and r.json()["code"] == "request.content_type_repeated", (order, r.text)
    # without any Content-Type FastAPI does not parse JSON (strict content type): still nothing stored
    assert (await post_project(client, world, NUL_TITLE, [])).status_code == 422
    assert await projects(app) == before
    # the same request with one header is served: the refusals above are the guard's
    r = await post_project(client, world, b'{"title": "ok"}', [JSON])
    assert r.status_code == 201 and await projects(app) == before + 1


async def test_one_odd_header_is_judged_as_fastapi_judges_it(app, client, world) -> None:
    # str.strip drops \xa0 and \x85 (what FastAPI's email parser does); bytes.strip does not
    odd: list[str | bytes] = [b"application/json\xa0", b"\x85application/json", "Application/JSON; charset=utf-8",
                              "application/merge-patch+json"]
    for ctype in odd:
        assert parsed_as_json(ctype.decode("latin-1") if isinstance(ctype, bytes) else ctype)
        before = await projects(app)
        r = await post_project(client, world, NUL_TITLE, [ctype])
        assert r.status_code == 422 and r.json()["code"] == "request.nul_character", (ctype, r.text)
        r = await post_project(client, world, DEEP_TITLE, [ctype])
        assert r.status_code == 422 and r.json()["code"] == "request.too_deep", (ctype, r.text)
        assert await projects(app) == before
        # FastAPI does parse these as JSON: a clean body is stored
        assert (await post_project(client, world, b'{"title": "ok"}', [ctype])).status_code == 201, ctype
    r = await post_project(client, world, NUL_TITLE, [b"application/json\xa0"])
    r_en = await client.post(f"/api/v1/communities/{world.community_id}/projects", content=NUL_TITLE,
                             headers=[("authorization", world.staff["Authorization"]),
                                      ("content-type", b"application/json\xa0"), ("accept-language", "en")])
    assert r.json()["detail"] == "请求中含有不允许的空字符"
    assert r_en.json()["detail"] == "The request contains a NUL character"


async def test_url_encoded_form_with_several_content_types(client, world) -> None:
    form = b"username=staff1%00&password=x"
    for order in (["application/x-www-form-urlencoded", TEXT], [TEXT, "application/x-www-form-urlencoded"]):
        r = await client.post("/api/v1/auth/token", content=form, headers=[("content-type", c) for c in order])
        assert r.status_code == 400 and r.json()["code"] == "request.content_type_repeated"
    r = await client.post("/api/v1/auth/token", content=form,
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 422 and r.json()["code"] == "request.nul_character"


def multipart(fields: dict[str, bytes], photo: bytes, boundary: str = "guard-boundary-7") -> bytes:
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; filename="IMG_1.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + photo + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_every_endpoint_with_a_form_body_checks_its_fields_first(app) -> None:
    form_routes = [r for r in app.routes if isinstance(r, APIRoute) and r.body_field is not None
                   and isinstance(r.body_field.field_info, params.Form)]
    # the paper ballot, sign-in, result corrections, notice attachments, objection photos, reports, report photos,
    # acceptance photos (a route added with a form body must take FORM_CHECKED too)
    assert len(form_routes) >= 8
    for r in form_routes:
        first = r.dependant.dependencies[0].call if r.dependant.dependencies else None
        assert first is form_without_nul, f"{sorted(r.methods)} {r.path}: dependencies=FORM_CHECKED first"


async def test_a_nul_in_a_paper_slip_field_is_refused_before_anything(client, world, clock) -> None:
    from tests.voting.helpers import API, jpeg, setup_motion  # noqa: PLC0415 - only this test needs a motion

    _, _, m = await setup_motion(client, world, clock.now())
    hid = world.household("2", "2", "201")["id"]
    url = f"{API}/motions/{m['id']}/paper-ballots"
    for field, value in (("proxy_name", "王\x00五"), ("household_id", hid + "\x00"), ("choice", "agree\x00")):
        data = {"household_id": hid, "choice": "agree", "proxy_relation": "子女", field: value}
        files = {"photo": ("s.jpg", jpeg(), "image/jpeg"), "proxy_photo": ("a.jpg", jpeg((200, 10, 10)), "image/jpeg")}
        r = await client.post(url, headers=world.staff, data=data, files=files)
        assert r.status_code == 422 and r.json()["code"] == "request.nul_character", (field, r.text)
        # refused before the caller is even looked at: a resident gets the same answer, not a 403
        r = await client.post(url, headers=world.residents[0].headers, data=data, files=files)
        assert r.status_code == 422 and r.json()["code"] == "request.nul_character", (field, r.text)
    h = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff)).json()
    assert h["items"] == []
    # the same slip without the NUL is taken
    r = await client.post(url, headers=world.staff, data={"household_id": hid, "choice": "agree",
                                                          "proxy_name": "王五", "proxy_relation": "子女"},
                          files={"photo": ("s.jpg", jpeg(), "image/jpeg"),
                                 "proxy_photo": ("a.jpg", jpeg((200, 10, 10)), "image/jpeg")})
    assert r.status_code == 201 and r.json()["proxy_name"] == "王五", r.text


async def test_multipart_fields_are_checked_once_parsed(app, client, world) -> None:
    p = await project_with_people(client, world)
    photo = phone_jpeg()
    assert b"\x00" in photo  # files may hold any byte
    before = await counts(app)
    r = await file_report(client, p.id, p.supervisor, photo, description="漏\x00水")
    assert r.status_code == 422 and r.json()["code"] == "request.nul_character", r.text
    url = f"/api/v1/projects/{p.id}/reports"
    fields = {k: v.encode() for k, v in REPORT_FIELDS.items()}
    # UTF-7 would turn "+AAA-" into a NUL when Starlette decodes the field in the header's charset
    r = await client.post(url, headers=p.supervisor | {
        "content-type": "multipart/form-data; boundary=guard-boundary-7; charset=utf-7"},
        content=multipart(fields | {"description": b"+AAA-"}, photo))
    assert r.status_code == 415 and r.json()["code"] == "request.unsupported_charset", r.text
    # several Content-Types: refused before anything is parsed
    r = await client.post(url, content=multipart(fields | {"description": b"a\x00b"}, photo), headers=[
        ("authorization", p.supervisor["Authorization"]), ("content-type", TEXT),
        ("content-type", "multipart/form-data; boundary=guard-boundary-7")])
    assert r.status_code == 400 and r.json()["code"] == "request.content_type_repeated"
    # a boundary Starlette's parser refuses (over 256 bytes): its 400, not a failure of the guard
    long = "b" * 300
    r = await client.post(url, headers=p.supervisor | {"content-type": f"multipart/form-data; boundary={long}"},
                          content=multipart(fields, photo, boundary=long))
    assert r.status_code == 400, r.text
    assert await counts(app) == before
    # the same body, UTF-8 and clean, is filed (photo bytes and all)
    r = await client.post(url, headers=p.supervisor | {
        "content-type": "multipart/form-data; boundary=guard-boundary-7; charset=UTF-8"},
        content=multipart(fields, photo))
    assert r.status_code == 201, r.text
    assert await counts(app) == (before[0] + 1, before[1] + 1)
