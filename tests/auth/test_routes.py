"""Sign-in through the HTTP API: passwords, activation codes, WeChat, refresh rotation."""

from __future__ import annotations

from tests.factories import (
    ADMIN_PASSWORD,
    activate,
    auth,
    bootstrap_admin,
    issue_codes,
    login,
)


async def test_password_login_and_me(app, client) -> None:
    await bootstrap_admin(app)
    r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong-password-1"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "auth.invalid_credentials"
    assert r.json()["detail"] == "用户名或密码错误"
    r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"},
                          headers={"Accept-Language": "en"})
    assert r.json()["detail"] == "Wrong username or password"
    tokens = await login(client, "admin", ADMIN_PASSWORD)
    me = await client.get("/api/v1/me", headers=auth(tokens["access_token"]))
    assert me.status_code == 200
    assert {"role": "admin", "scope_id": "*"} in me.json()["roles"]


async def test_overlong_password_is_4xx(app, client) -> None:
    await bootstrap_admin(app)
    r = await client.post("/api/v1/auth/token", data={"username": "admin", "password": "x" * 10_000})
    assert r.status_code == 422


async def test_malformed_and_foreign_tokens(client) -> None:
    for value in ("Bearer abc", "Bearer a.b.c", "Bearer " + "x" * 3000):
        r = await client.get("/api/v1/me", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.json()["code"] == "auth.token_invalid"
    r = await client.get("/api/v1/me")
    assert r.status_code == 401 and r.json()["code"] == "auth.unauthenticated"


async def test_token_of_another_audience_refused(app, client, world) -> None:
    from datetime import timedelta

    from app.core.security import create_token

    s = app.state.settings
    token = create_token(secret=s.secret_key, subject=world.residents[0].user_id, audience="some-other-service",
                         issuer=s.jwt_issuer, now=app.state.clock.now(), ttl=timedelta(minutes=5),
                         extra={"typ": "access"})
    r = await client.get("/api/v1/me", headers=auth(token))
    assert r.status_code == 401


async def test_access_token_expires_with_clock(client, clock, world) -> None:
    r = await client.get("/api/v1/me", headers=world.residents[0].headers)
    assert r.status_code == 200
    clock.advance(minutes=16)
    r = await client.get("/api/v1/me", headers=world.residents[0].headers)
    assert r.status_code == 401 and r.json()["code"] == "auth.token_expired"


async def test_activation_flow_and_me_shows_household(client, world) -> None:
    res = world.residents[0]
    me = (await client.get("/api/v1/me", headers=res.headers)).json()
    assert me["households"][0]["household_id"] == res.household_id
    hh = me["households"][0]
    assert hh["community"]["id"] == world.community_id
    assert hh["relation"] == "owner" and hh["may_act"] is True
    assert {"building", "unit", "room", "area_m2"} <= set(hh)


async def test_activation_code_reuse_expiry_and_garbage(client, clock, world) -> None:
    hid, code = next(iter(world.codes.items()))
    assert (await activate(client, code, "张三")).status_code == 200
    r = await activate(client, code, "李四")
    assert r.status_code == 409 and r.json()["code"] == "activation.code_used"
    r = await activate(client, "ZZZZ-ZZZZ-ZZZZ", "王五")
    assert r.status_code == 400 and r.json()["code"] == "activation.code_invalid"
    other = list(world.codes.items())[1]
    clock.advance(days=31)
    r = await activate(client, other[1], "赵六")
    assert r.status_code == 400 and r.json()["code"] == "activation.code_expired"


async def test_household_member_cap(client, world) -> None:
    hid = world.residents[0].household_id
    # Laoshan preset allows 6 members; one already bound
    for i in range(5):
        code = (await issue_codes(client, world.staff, world.community_id, [hid], relation="family"))[hid]
        assert (await activate(client, code, f"家人{i}")).status_code == 200
    code = (await issue_codes(client, world.staff, world.community_id, [hid], relation="family"))[hid]
    r = await activate(client, code, "多余的人")
    assert r.status_code == 409 and r.json()["code"] == "activation.household_full"


async def test_new_code_replaces_old_one(client, world) -> None:
    hid, old = next(iter(world.codes.items()))
    new = (await issue_codes(client, world.staff, world.community_id, [hid]))[hid]
    r = await activate(client, old, "甲")
    assert r.status_code == 409 and r.json()["code"] == "activation.code_replaced"
    assert (await activate(client, new, "甲")).status_code == 200


async def test_refresh_rotation_and_reuse_revokes_family(client, world) -> None:
    res = world.residents[0]
    r1 = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
    assert r1.status_code == 200
    new_refresh = r1.json()["refresh_token"]
    # the old one is replayed (stolen copy): refused, and the whole family dies
    r2 = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
    assert r2.status_code == 401 and r2.json()["code"] == "auth.refresh_reused"
    r3 = await client.post("/api/v1/auth/refresh", json={"refresh_token": new_refresh})
    assert r3.status_code == 401


async def test_logout_revokes(client, world) -> None:
    res = world.residents[1]
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": res.refresh_token})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
    assert r.status_code == 401


async def test_logout_refuses_that_sign_ins_access_tokens(app, client) -> None:
    """The clock stands still: old token, logout and new login share one instant (iat has whole seconds)."""
    await bootstrap_admin(app)
    phone = await login(client, "admin", ADMIN_PASSWORD)  # two devices, two refresh families
    laptop = await login(client, "admin", ADMIN_PASSWORD)
    rotated = (await client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})).json()
    for tokens in (phone, rotated):
        assert (await client.get("/api/v1/me", headers=auth(tokens["access_token"]))).status_code == 200
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert r.status_code == 204
    for tokens in (phone, rotated):  # every access token of that sign-in, not only the last
        r = await client.get("/api/v1/me", headers=auth(tokens["access_token"]))
        assert r.status_code == 401 and r.json()["code"] == "auth.token_revoked"
    # the other device is still signed in, and signing in again right away works
    assert (await client.get("/api/v1/me", headers=auth(laptop["access_token"]))).status_code == 200
    again = await login(client, "admin", ADMIN_PASSWORD)
    assert (await client.get("/api/v1/me", headers=auth(again["access_token"]))).status_code == 200


async def test_refresh_reuse_refuses_the_access_tokens(client, world) -> None:
    res = world.residents[2]
    r1 = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
    assert r1.status_code == 200
    rotated = r1.json()["access_token"]
    assert (await client.get("/api/v1/me", headers=auth(rotated))).status_code == 200
    r2 = await client.post("/api/v1/auth/refresh", json={"refresh_token": res.refresh_token})
    assert r2.status_code == 401 and r2.json()["code"] == "auth.refresh_reused"
    # the thief's and the owner's access tokens stop working at once, not when they expire
    for token in (res.token, rotated):
        r = await client.get("/api/v1/me", headers=auth(token))
        assert r.status_code == 401 and r.json()["code"] == "auth.token_revoked"
    # write routes read the principal through SQLite's read connection: refused there too
    r = await client.post(f"/api/v1/communities/{world.community_id}/activation-codes", headers=auth(rotated),
                          json={})
    assert r.status_code == 401
    # another resident is untouched; so is the staff member who issued codes
    assert (await client.get("/api/v1/me", headers=world.residents[3].headers)).status_code == 200
    assert (await client.get("/api/v1/me", headers=world.staff)).status_code == 200


async def test_wechat_binding_then_login(client, wechat, world) -> None:
    wechat.codes["wx-code-1"] = "openid-abc"
    r = await client.post("/api/v1/auth/wechat", json={"code": "wx-code-1"})
    assert r.status_code == 200 and r.json()["bound"] is False
    binding = r.json()["binding_token"]
    hid, code = next(iter(world.codes.items()))
    r = await client.post("/api/v1/auth/activate", json={"activation_code": code, "phone": "13900001111",
                                                         "name": "微信用户", "binding_token": binding})
    assert r.status_code == 200, r.text
    wechat.codes["wx-code-2"] = "openid-abc"
    r = await client.post("/api/v1/auth/wechat", json={"code": "wx-code-2"})
    assert r.json()["bound"] is True
    me = await client.get("/api/v1/me", headers=auth(r.json()["access_token"]))
    assert me.json()["households"][0]["household_id"] == hid
    # the call went to the configured base URL with our app id
    call = [c for c in wechat.calls if c.url.path == "/sns/jscode2session"][-1]
    assert call.url.host == "wechat.test" and call.url.params["grant_type"] == "authorization_code"


async def test_wechat_bad_code_and_outage(client, wechat) -> None:
    r = await client.post("/api/v1/auth/wechat", json={"code": "nope"})
    assert r.status_code == 401 and r.json()["code"] == "wechat.code_invalid"
    wechat.codes["boom"] = "x"

    def broken(request):
        import httpx

        raise httpx.ConnectError("down", request=request)

    client._transport.app.state.http._transport = __import__("httpx").MockTransport(broken)
    r = await client.post("/api/v1/auth/wechat", json={"code": "boom"})
    assert r.status_code == 503 and r.json()["code"] == "wechat.unavailable"


async def test_binding_token_is_not_an_access_token(client, wechat) -> None:
    wechat.codes["c"] = "openid-z"
    binding = (await client.post("/api/v1/auth/wechat", json={"code": "c"})).json()["binding_token"]
    assert (await client.get("/api/v1/me", headers=auth(binding))).status_code == 401
