"""Rate limits on sign-in, activation and WeChat login: in memory, and on the real Redis when REDIS_URL is set.

Waits are measured by the injected clock (``clock.advance``), never slept. The client address is the socket
peer unless FORWARDED_ALLOW_IPS names the proxy: checked on a real server process at the end.
"""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from app.core.ratelimit import (
    ACTIVATE_FAILURES_PER_IP,
    ACTIVATE_FAILURES_PER_PHONE_IP,
    LOGIN_FAILURES_PER_ACCOUNT_IP,
    LOGIN_FAILURES_PER_IP,
    WECHAT_PER_IP,
)
from app.main import create_app
from tests.factories import ADMIN_PASSWORD, activate, bootstrap_admin, build_world
from tests.reliability.conftest import drop_database, process_database
from tests.serverproc import ServerProcess

BACKENDS = ["memory"] + (["redis"] if os.environ.get("REDIS_URL") else [])


@pytest.fixture(params=BACKENDS)
async def limited(request, settings, clock, wechat):
    """The app with rate limits on, and ``client_from(address)``: a client whose socket peer is ``address``."""
    redis_url = os.environ.get("REDIS_URL") if request.param == "redis" else None
    s = settings.model_copy(update={"rate_limit_enabled": True, "redis_url": redis_url,
                                    "rate_limit_prefix": f"rl-test-{uuid.uuid4().hex[:8]}:"})
    http = httpx.AsyncClient(transport=httpx.MockTransport(wechat.handler))
    application = create_app(s, clock=clock, http=http)
    clients: list[httpx.AsyncClient] = []

    def client_from(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://test"))
        return clients[-1]

    yield application, client_from
    for c in clients:
        await c.aclose()
    await application.state.rate_limits.limiter.close()
    await http.aclose()
    await application.state.db.dispose()


async def _login(client: httpx.AsyncClient, username: str = "admin", password: str = "wrong-guess-1"):
    return await client.post("/api/v1/auth/token", data={"username": username, "password": password})


async def test_login_failures_slow_that_account_at_that_address_only(limited, clock) -> None:
    app, client_from = limited
    await bootstrap_admin(app)
    here, elsewhere = client_from("198.51.100.7"), client_from("203.0.113.9")
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT_IP.free + 1):
        assert (await _login(here)).status_code == 401
    # the right password waits 2 s at this address ...
    r = await _login(here, password=ADMIN_PASSWORD)
    assert r.status_code == 429 and r.json()["code"] == "auth.rate_limited"
    assert r.headers["Retry-After"] == "2"
    # ... but not from another one: strangers' guesses never lock the staff member out
    assert (await _login(elsewhere, password=ADMIN_PASSWORD)).status_code == 200
    clock.advance(seconds=2)
    assert (await _login(here, password=ADMIN_PASSWORD)).status_code == 200
    # a correct password forgets the account's failures at that address: the next typos are free again
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT_IP.free):
        assert (await _login(here)).status_code == 401
    assert (await _login(here, password=ADMIN_PASSWORD)).status_code == 200


async def test_waits_double_up_to_the_cap_then_are_forgotten(limited, clock) -> None:
    _, client_from = limited
    guesser = client_from("192.0.2.44")
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT_IP.free):
        assert (await _login(guesser, "nobody")).status_code == 401
    waits = []
    for _ in range(10):
        assert (await _login(guesser, "nobody")).status_code == 401
        r = await _login(guesser, "nobody")
        assert r.status_code == 429
        waits.append(int(r.headers["Retry-After"]))
        clock.advance(seconds=waits[-1] - 1)
        assert (await _login(guesser, "nobody")).status_code == 429  # one second early
        clock.advance(seconds=1)
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    # an hour without failures and the count starts over
    clock.advance(seconds=LOGIN_FAILURES_PER_ACCOUNT_IP.forget_s)
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT_IP.free + 1):
        assert (await _login(guesser, "nobody")).status_code == 401


async def test_login_failures_per_address_across_accounts(limited, clock) -> None:
    app, client_from = limited
    await bootstrap_admin(app)
    sprayer, colleague = client_from("192.0.2.80"), client_from("192.0.2.81")
    for i in range(LOGIN_FAILURES_PER_IP.free + 1):  # one guess per account: only the address key counts
        assert (await _login(sprayer, f"user{i}")).status_code == 401
    r = await _login(sprayer, "admin", ADMIN_PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert (await _login(colleague, "admin", ADMIN_PASSWORD)).status_code == 200


async def test_wrong_codes_behind_a_shared_address_do_not_block_a_valid_code(limited, clock) -> None:
    app, client_from = limited
    world = await build_world(app, client_from("10.1.1.1"))
    codes = iter(world.codes.values())
    nat = client_from("100.64.0.10")  # a carrier NAT: many households, one address
    body = {"phone": "13700000000", "name": "输错者"}

    async def guess(client, phone: str, n: int = 0):
        return await client.post("/api/v1/auth/activate",
                                 json=body | {"phone": phone, "activation_code": f"AAAA-BBBB-C{n:03d}"})

    for i in range(ACTIVATE_FAILURES_PER_PHONE_IP.free + 1):
        assert (await guess(nat, "13700000000", i)).status_code == 400
    r = await guess(nat, "13700000000")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    for i in range(4):  # ten wrong codes from the address in all
        assert (await guess(nat, f"1370000010{i}")).status_code == 400
    # a neighbour behind the same address activates with a valid code at once
    r = await activate(nat, next(codes), "邻居", phone="13900000001")
    assert r.status_code == 200, r.text

    # an address guessing with ever new phones is slowed down as a whole after its free failures
    guesser = client_from("198.51.100.99")
    for i in range(ACTIVATE_FAILURES_PER_IP.free + 1):
        assert (await guess(guesser, f"1360000{i:04d}")).status_code == 400
    r = await activate(guesser, next(codes), "猜码者", phone="13600009999")
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    # while a valid code from elsewhere is not
    assert (await activate(nat, next(codes), "另一位邻居", phone="13900000002")).status_code == 200
    clock.advance(seconds=2)
    assert (await activate(guesser, next(codes), "猜码者", phone="13600009999")).status_code == 200


async def test_wechat_login_per_address_per_minute(limited, clock) -> None:
    _, client_from = limited
    busy, other = client_from("100.64.7.7"), client_from("100.64.7.8")
    codes = [await busy.post("/api/v1/auth/wechat", json={"code": f"c{i}"}) for i in range(WECHAT_PER_IP.limit + 1)]
    assert [r.status_code for r in codes[:-1]] == [401] * WECHAT_PER_IP.limit
    assert codes[-1].status_code == 429
    assert codes[-1].headers["Retry-After"] == "60"  # the clock stands at hh:mm:00: the whole window is left
    assert (await other.post("/api/v1/auth/wechat", json={"code": "x"})).status_code == 401
    clock.advance(seconds=60)
    assert (await busy.post("/api/v1/auth/wechat", json={"code": "x"})).status_code == 401


def test_ipv6_clients_count_by_their_64() -> None:
    from starlette.requests import Request

    from app.core.ratelimit import client_ip

    def peer(host: str) -> str:
        return client_ip(Request({"type": "http", "client": (host, 1), "headers": []}))

    assert peer("2001:db8:1:2:aaaa::1") == peer("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert peer("2001:db8:1:3::1") != peer("2001:db8:1:2::1")
    assert peer("::ffff:192.0.2.1") == "192.0.2.1"
    assert peer("198.51.100.1") == "198.51.100.1"


# ---- the client address through a real server process ------------------------------------------------------

def _failed_logins(proc: ServerProcess, n: int, forwarded_for) -> list[int]:
    statuses = []
    with httpx.Client(base_url=proc.base_url, timeout=30) as c:
        for i in range(n):
            r = c.post("/api/v1/auth/token", data={"username": f"nobody{i}", "password": "wrong-guess-1"},
                       headers={"X-Forwarded-For": forwarded_for(i)})
            statuses.append(r.status_code)
    return statuses


def _serve(tmp_path, forwarded_allow_ips: str | None):
    """A server with rate limits on; FORWARDED_ALLOW_IPS unset when None (the default)."""
    url, name = process_database(tmp_path)
    proc = ServerProcess(url, tmp_path, extra_env={"RATE_LIMIT_ENABLED": "true"})
    proc.env.pop("FORWARDED_ALLOW_IPS", None)
    if forwarded_allow_ips is not None:
        proc.env["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    proc.start()
    return proc, name


N = LOGIN_FAILURES_PER_IP.free + 4  # waits of 2, 4 and 8 s follow the free failures


def test_forwarded_for_from_loopback_is_ignored_by_default(tmp_path) -> None:
    proc, name = _serve(tmp_path, None)
    try:
        statuses = _failed_logins(proc, N, lambda i: f"203.0.113.{i}")
    finally:
        proc.stop()
        drop_database(name)
    assert statuses[:LOGIN_FAILURES_PER_IP.free] == [401] * LOGIN_FAILURES_PER_IP.free
    assert 429 in statuses, "a rotating X-Forwarded-For got around the per-address limit"


def test_forwarded_for_from_a_trusted_proxy_is_the_client(tmp_path) -> None:
    proc, name = _serve(tmp_path, "10.0.0.2,127.0.0.1")
    try:
        rotating = _failed_logins(proc, N, lambda i: f"203.0.113.{i}")
        one_client = _failed_logins(proc, N, lambda i: "198.51.100.5")
    finally:
        proc.stop()
        drop_database(name)
    assert rotating == [401] * N  # each forwarded address is a client of its own
    assert 429 in one_client
