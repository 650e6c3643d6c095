"""Passwords: stored only as argon2id hashes (OWASP minimum parameters), and a minimum policy (at least 10
characters, not a single character class) wherever an account with a password is created."""

from __future__ import annotations

import re

from sqlmodel import select

from app.auth.models import User
from tests.factories import login
from tests.security.world import API

WEAK = ["short1!", "abcdefghijklmnop", "ABCDEFGHIJKLMNOPQ", "12345678901234", "!!!!!!!!!!!!!!", "          ",
        "汉字汉字汉字汉字汉字汉字"]


async def _hashes(app) -> dict[str, str]:
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(User.username, User.password_hash))).all()
    return {u: h for u, h in rows if h is not None}


async def test_weak_passwords_refused_when_staff_are_created(app, client, world) -> None:
    url = f"{API}/communities/{world.community_id}/staff"
    for i, pw in enumerate(WEAK):
        r = await client.post(url, headers=world.admin, json={"username": f"weak{i}", "password": pw, "name": "弱"})
        assert r.status_code == 422, (pw, r.text)
        assert r.json()["code"] == "auth.weak_password" and r.json()["errors"][0]["loc"] == ["body", "password"]
    for pw in ("", "Aa1!" * 40):  # empty, and over the 128-character cap
        r = await client.post(url, headers=world.admin, json={"username": "weakx", "password": pw, "name": "弱"})
        assert r.status_code == 422, (pw, r.text)
    # nothing was created by the refused requests
    assert not {u for u in await _hashes(app) if u and u.startswith("weak")}
    # the same policy for supervisors and contractors given a sign-in
    pid = (await client.post(f"{API}/communities/{world.community_id}/projects", headers=world.staff,
                             json={"title": "项目"})).json()["id"]
    for kind in ("supervisors", "contractors"):
        extra = {"source": "resident"} if kind == "supervisors" else {"organization": "某公司"}
        r = await client.post(f"{API}/projects/{pid}/{kind}", headers=world.staff, json={
            "name": "某人", "phone": "13900001111", "username": f"weak-{kind}", "password": "password"} | extra)
        assert r.status_code == 422 and r.json()["code"] == "auth.weak_password", r.text


async def test_passwords_stored_as_argon2id(app, client, world) -> None:
    password = "Strong-pass-2026"
    r = await client.post(f"{API}/communities/{world.community_id}/staff", headers=world.admin,
                          json={"username": "newstaff", "password": password, "name": "新员工"})
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/communities/{world.community_id}/staff", headers=world.admin,
                          json={"username": "newstaff", "password": password, "name": "重名"})
    assert r.status_code == 409
    hashes = await _hashes(app)
    assert {"admin", "staff1", "newstaff"} <= set(hashes)
    for username, h in hashes.items():
        assert h.startswith("$argon2id$"), (username, h[:20])
        m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", h)
        assert m, h
        memory, rounds, lanes = map(int, m.groups())
        assert memory >= 19_456 and rounds >= 2 and lanes >= 1, (username, memory, rounds, lanes)  # OWASP minimum
        assert password not in h
    assert hashes["newstaff"] != (await _hashes(app))["staff1"]  # salted
    # the hash verifies: the new account signs in; a wrong password does not
    assert (await login(client, "newstaff", password))["access_token"]
    r = await client.post(f"{API}/auth/token", data={"username": "newstaff", "password": password + "x"})
    assert r.status_code == 401
