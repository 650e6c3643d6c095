"""Server CPU per request (issue 17): the app's hot endpoints against a bare FastAPI app, same run, same machine.

    python -m bench.cpu [--db sqlite|postgresql|both] [--seconds 10] [--connections 50] [--client auto|wrk|python]
                        [--only me,ballot,...] [--notices 10] [--pg-url URL]

For each database (SQLite ``bench/results/bench.db``; PostgreSQL ``--pg-url``, default the ``bench`` database on
127.0.0.1) the dataset of ``bench.generate`` is used (generated when missing: 50 communities × 2,000 households).
Two uvicorn processes serve on 127.0.0.1, one worker each: a bare FastAPI app (a ``GET`` returning JSON, and
the same with an HS256 JWT decode by python-jose) and the service (``python -m app serve``). Each endpoint is
loaded in turn — by ``wrk`` (one thread, ``--connections``; the Debian package) when it is installed, else by
the Python client of ``bench.common`` — after an unmeasured warm-up. Server CPU per request is the server
process's CPU time (``/proc/<pid>/stat`` utime + stime: the event loop and aiosqlite's threads alike) over the
run divided by the requests answered. On PostgreSQL the database's own CPU (the backends serving the bench
database) is shown beside it; the goals are about the app process.

Endpoints (``--only`` takes these names):

* ``bare``, ``bare_jwt``: the framework's floor; ``bare_jwt`` is the reference of the ratios.
* ``healthz``: the app's stack without auth or database.
* ``me``: ``GET /api/v1/me`` of 2,000 residents in turn (a real access JWT each).
* ``notices``: a resident's ``GET /api/v1/communities/{id}/notices`` (the read after a WeChat push) in a
  community holding ``--notices`` staff notices plus whatever the runs before published there (none: the
  ballots vote elsewhere).
* ``ballot``: ``PUT /api/v1/motions/{id}/ballot`` by 6,000 households in turn (three communities, a motion
  opened for this run in each): every household casts its FIRST ballot until all have voted, then changes
  it (re-voting until close is allowed, but first ballots are what a push brings). The output says how many
  were first ballots.
* ``paper``: staff entering paper ballots (``POST …/paper-ballots``, multipart with a 64×48 JPEG of the slip)
  for 4,000 households in turn, without ``Idempotency-Key``. "Without the photo work" subtracts the CPU of
  checking, cleaning and storing that photo (``app.media.images.Staging``, measured in this process on the
  same bytes, many times).
* ``paper_nophoto``: the same entries (motions of their own, the same households) on a third server,
  ``python -m bench.without_photos serve``: the service with the photo work of a photo it has processed once
  answered from memory — the paper ballot without the photo work, measured directly; the issue's 4 ms goal
  is judged on it. The subtraction above is printed beside it: the photo work measured alone, on an idle loop,
  is cheaper than inside a loaded server, so the subtracted figure still carries part of the photo's cost.

Statements per request are counted in this process, not in the server: the app is built here
(``create_app``) on the same database and driven through httpx's ASGI transport while every statement the
engines send is captured (``bench.common.capture_sql``; the hot statements the drivers send themselves,
``app.core.hotread``, too) — no counting code in the app. ``BEGIN``/``COMMIT``
are not statements there (the drivers send them), except SQLite's ``BEGIN`` / ``BEGIN IMMEDIATE``, which
the app issues itself and which is listed apart.

Writes ``bench/results/cpu_<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI, HTTPException, Request
from sqlalchemy import text

from bench.common import (
    API,
    BENCH_SECRET,
    RESULTS,
    ROOT,
    Server,
    app_settings,
    bearer,
    database_url,
    db_kind,
    ensure_database,
    load_note,
    login,
    machine,
    open_motion,
    print_table,
    run_load,
    write_json,
)

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
ENDPOINTS = ("bare", "bare_jwt", "bare_db", "bare_conn", "healthz", "me", "notices", "ballot", "paper",
             "paper_nophoto")
APP_ENDPOINTS = ("me", "notices", "ballot", "paper")
GOALS_MS = {"me": 1.0, "notices": 2.0, "ballot": 3.0, "paper_nophoto": 4.0}
GOALS_RATIO = {"me": 0.20, "ballot": 0.06}
CHOICES = ("agree", "disagree", "abstain")
BOUNDARY = "benchcpu7f3a9c"


# ---- the bare app ------------------------------------------------------------------------------------

def bare_app() -> Any:
    """The framework's floor: FastAPI, a JSON GET, and a GET that verifies an HS256 access JWT (python-jose,
    the app's audience and issuer) from the ``Authorization`` header; and the stack's floor for a resident's read:
    the same decode, then one transaction with the two indexed reads of ``/me`` written as plain SQL (the user by
    id, the user's memberships), once in an ORM session as the app opens one per request (``/jwt_db``) and once
    on a Core connection (``/jwt_conn``), through the app's own SQLite driver (``app.core.sqlite_async``, one
    thread hand-off per statement) or asyncpg. ``uvicorn bench.cpu:bare_app --factory``."""
    from jose import JWTError, jwt
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from app.core.config import Settings
    from app.core.sqlite_async import onehop_url

    s = Settings()
    app = FastAPI()
    url = database_url()
    engine = create_async_engine(onehop_url(url), **({} if url.startswith("sqlite") else {"pool_size": 10}))
    user_sql = text("SELECT id, name, is_active FROM app_user WHERE id = :id")
    member_sql = text("SELECT household_id, relation FROM household_member WHERE user_id = :id")

    def subject(request: Request) -> str:
        try:
            claims = jwt.decode(request.headers.get("authorization", "").removeprefix("Bearer "), BENCH_SECRET,
                                algorithms=["HS256"], audience=s.jwt_audience, issuer=s.jwt_issuer)
        except JWTError as exc:
            raise HTTPException(401) from exc
        return str(claims["sub"])

    async def me(run: Any, sub: str) -> dict[str, Any]:
        user = (await run(user_sql, {"id": sub})).first()
        members = (await run(member_sql, {"id": sub})).all()
        if user is None:
            raise HTTPException(401)
        return {"id": user.id, "name": user.name, "households": [
            {"id": m.household_id, "relation": m.relation} for m in members]}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/jwt")
    async def with_jwt(request: Request) -> dict[str, str]:
        return {"sub": subject(request)}

    @app.get("/jwt_db")
    async def with_db(request: Request) -> dict[str, Any]:
        sub = subject(request)
        async with AsyncSession(engine) as session, session.begin():
            return await me(session.execute, sub)

    @app.get("/jwt_conn")
    async def with_conn(request: Request) -> dict[str, Any]:
        sub = subject(request)
        async with engine.begin() as conn:
            return await me(conn.execute, sub)

    return app


class BareServer(Server):
    """The bare app in its own uvicorn process (same uvicorn defaults as ``python -m app serve``)."""

    def start(self) -> BareServer:
        RESULTS.mkdir(parents=True, exist_ok=True)
        log = open(RESULTS / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.cpu:bare_app", "--factory", "--host",
                                      "127.0.0.1", "--port", str(self.port), "--log-level", "warning"], cwd=ROOT,
                                     env=os.environ | {"SECRET_KEY": BENCH_SECRET}, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(self.base_url + "/plain", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("bare server did not start; see bench/results/server.log")


# ---- requests ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Req:
    """One request of a rotation. A paper ballot's body is ``pre + photo + post`` (the photo held once)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    photo_post: bytes | None = None  # set: body is the part before the photo, this the part after

    def content(self, photo: bytes) -> bytes | None:
        if self.photo_post is None:
            return self.body
        return (self.body or b"") + photo + self.photo_post


@dataclass
class Endpoint:
    name: str
    label: str
    base: str  # "bare", "app" or "nophoto" (the service without its photo work, bench.without_photos)
    requests: list[Req]
    expect: int = 200
    count: list[Req] = field(default_factory=list)  # for the in-process statement count (not loaded)


def _lua_str(b: bytes) -> str:
    out = ['"']
    for ch in b:
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append(f"\\{ch:03d}")
    out.append('"')
    return "".join(out)


def _lua_script(reqs: list[Req], photo: bytes) -> str:
    """A wrk script that sends the requests in turn from an offset (``-- OFFSET``) and prints one JSON line."""
    rows = []
    for r in reqs:
        hs = ", ".join(f"[{_lua_str(k.encode())}] = {_lua_str(v.encode())}" for k, v in r.headers.items())
        body = _lua_str(r.body) if r.body is not None else "nil"
        post = _lua_str(r.photo_post) if r.photo_post is not None else "nil"
        rows.append(f"{{{_lua_str(r.method.encode())}, {_lua_str(r.path.encode())}, {{{hs}}}, {body}, {post}}}")
    return f"""
local PHOTO = {_lua_str(photo)}
local rows = {{
{(',' + chr(10)).join(rows)}
}}
local built = {{}}
local i = 0
init = function(args)
  for k, r in ipairs(rows) do
    local body = r[4]
    if r[5] ~= nil then body = r[4] .. PHOTO .. r[5] end
    built[k] = wrk.format(r[1], r[2], r[3], body)
  end
  rows = nil
  i = tonumber(args[1] or "0") % #built
end
request = function()
  i = i % #built + 1
  return built[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "mean_ms": %.3f}}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000))
end
"""


@dataclass
class LoadRun:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    client_cpu_s: float


def _wrk(base_url: str, script: Path, *, seconds: float, connections: int, offset: int) -> LoadRun:
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                          "-s", str(script), base_url, "--", str(offset)], capture_output=True, text=True,
                         check=False)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"^WRKJSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    d = json.loads(m.group(1))
    return LoadRun(requests=d["requests"], seconds=d["duration_us"] / 1e6,
                   errors=d["status_errors"] + d["socket_errors"], p50_ms=d["p50_ms"], p99_ms=d["p99_ms"],
                   client_cpu_s=(ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime))


def _python_load(base_url: str, reqs: list[Req], photo: bytes, *, seconds: float, connections: int, offset: int,
                 expect: int) -> LoadRun:
    async def one(client: httpx.AsyncClient, w: int, i: int) -> httpx.Response:
        r = reqs[(offset + i * connections + w) % len(reqs)]
        return await client.request(r.method, r.path, headers=r.headers, content=r.content(photo))

    c0 = time.process_time()
    res = asyncio.run(run_load(base_url, "load", one, concurrency=connections, seconds=seconds, expect=expect,
                               warmup=0.0, ramp=0.0))
    lat = sorted(res.latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 3) if lat else float("nan")

    return LoadRun(requests=res.ok + res.error_count, seconds=res.seconds, errors=res.error_count, p50_ms=pct(0.5),
                   p99_ms=pct(0.99), client_cpu_s=time.process_time() - c0)


# ---- CPU of processes ------------------------------------------------------------------------------------

def _proc_cpu_split(pid: int) -> tuple[float, float]:
    """The process's CPU seconds so far: (in its own code, in the kernel for it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(parts[11]) / tick, int(parts[12]) / tick
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def _proc_cpu(pid: int) -> float:
    return sum(_proc_cpu_split(pid))


async def _pg_backends(url: str) -> list[int]:
    """The PostgreSQL backends connected to the bench database (the server's pool), not this query's own."""
    import asyncpg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                                name)
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


class DbCpu:
    """CPU of the PostgreSQL backends serving the bench database over a run (new backends count whole)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.on = db_kind(url) == "postgresql" and Path("/proc").exists()
        self.before: dict[int, float] = {}

    def start(self) -> None:
        if self.on:
            self.before = {p: _proc_cpu(p) for p in asyncio.run(_pg_backends(self.url))}

    def seconds(self) -> float | None:
        if not self.on:
            return None
        pids = set(asyncio.run(_pg_backends(self.url))) | set(self.before)
        return sum(max(0.0, _proc_cpu(p) - self.before.get(p, 0.0)) for p in pids)


# ---- py-spy ---------------------------------------------------------------------------------------------

def _py_spy_start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Sample the server (every thread, idle frames left out) while the endpoint is loaded; collapsed stacks."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--py-spy needs py-spy on PATH")
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "400",
                             "-f", "raw", "--nonblocking", "-t", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _py_spy_report(proc: subprocess.Popen[bytes], out: Path, top: int = 30) -> None:
    """Where the samples are: the functions most often on the stack (inclusive) and at its top (self)."""
    proc.wait(timeout=120)
    if not out.exists():
        print(f"  (py-spy wrote nothing to {out})")
        return
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  for f in stack.split(";")[1:]]
        total += int(n)
        for f in set(frames):
            incl[f] += int(n)
        if frames:
            self_[frames[-1]] += int(n)
    print(f"  py-spy: {total} samples → {out}")
    for title, c in (("inclusive", incl), ("self", self_)):
        print(f"    {title}:")
        for f, samples in c.most_common(top):
            print(f"      {samples / total:6.1%}  {f}")


# ---- setup -----------------------------------------------------------------------------------------------

def _tiny_jpeg() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (64, 48), (200, 180, 160))
    for x in range(64):
        img.putpixel((x, x % 48), (20, 40, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _paper_parts(household_id: str, choice: str) -> tuple[bytes, bytes]:
    pre = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"household_id\"\r\n\r\n{household_id}\r\n"
           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"choice\"\r\n\r\n{choice}\r\n"
           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"slip.jpg\"\r\n"
           "Content-Type: image/jpeg\r\n\r\n").encode()
    return pre, f"\r\n--{BOUNDARY}--\r\n".encode()


async def _households(community_ids: list[str]) -> dict[str, list[str]]:
    from app.core.db import Database

    db = Database(app_settings())
    try:
        async with db.reader.connect() as conn:
            out = {}
            for cid in community_ids:
                rows = await conn.execute(text("SELECT id FROM household WHERE community_id = :c ORDER BY id"),
                                          {"c": cid})
                out[cid] = [r[0] for r in rows]
            return out
    finally:
        await db.dispose()


def _ensure_notices(client: httpx.Client, base_url: str, data: dict[str, Any], com: dict[str, Any], n: int) -> None:
    """``n`` staff notices in the notices community, published once per dataset (recorded in its extras)."""
    from bench.generate import save_dataset

    key = f"cpu_notices_{com['id']}"
    have = int(data["extras"].get(key, 0))
    if have >= n:
        return
    staff = login(base_url, com["staff_username"], data["staff_password"])
    project = client.post(f"{API}/communities/{com['id']}/projects", headers=staff, json={"title": "公示基准"})
    project.raise_for_status()
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    kinds = ("plan", "funding", "other")
    body = ("根据《城镇老旧小区改造工作指引》，现将本小区改造有关事项公示如下：屋面防水、外墙保温、雨污分流、"
            "加装电梯意向征集。公示期间如有异议，请通过小程序或到社区居委会书面提出。") * 3
    for i in range(have, n):
        r = client.post(f"{API}/projects/{project.json()['id']}/notices", headers=staff, json={
            "kind": kinds[i % 3], "title": f"改造事项公示第{i + 1}号", "body": body, "start_date": today.isoformat()})
        r.raise_for_status()
    data["extras"][key] = n
    save_dataset(data)


def _access_token(user_id: str) -> str:
    """An access JWT as ``app.auth.service.issue_tokens`` makes them (``typ`` access, a refresh family ``fid``),
    signed with the benchmark server's secret."""
    from app.core.config import Settings
    from app.core.db import new_id
    from app.core.security import create_token

    s = Settings()
    return create_token(secret=BENCH_SECRET, subject=user_id, audience=s.jwt_audience, issuer=s.jwt_issuer,
                        now=datetime.now(UTC), ttl=timedelta(hours=3), extra={"typ": "access", "fid": new_id()})


@dataclass
class Setup:
    endpoints: dict[str, Endpoint]
    motion_ids: list[str]
    paper_motion_ids: list[str]  # both paper rotations' motions
    notices_community: str
    notices_count: int


def setup(server: Server, data: dict[str, Any], *, notices: int) -> Setup:
    """Motions opened for this run, notices, and the request rotations."""
    coms = data["communities"]
    resident_coms = [c for c in coms if c["residents"]]
    if len(resident_coms) < 4 or len(coms) < 6:
        raise SystemExit("bench.cpu needs the default dataset (6+ communities, 4 with residents): "
                         "python -m bench.generate")
    ballot_coms, notices_com, paper_coms = resident_coms[:3], resident_coms[3], coms[4:6]
    stamp = datetime.now(UTC).strftime("%H%M%S")
    with httpx.Client(base_url=server.base_url, timeout=60) as c:
        motion_ids, paper_motions, nophoto_motions = [], [], []
        for com in ballot_coms:
            staff = login(server.base_url, com["staff_username"], data["staff_password"])
            motion_ids.append(open_motion(c, staff, com["id"], f"CPU基准{stamp}")["motion_id"])
        paper_staff = []
        for com in paper_coms:
            staff = login(server.base_url, com["staff_username"], data["staff_password"])
            paper_staff.append(staff)
            paper_motions.append(open_motion(c, staff, com["id"], f"CPU纸质{stamp}")["motion_id"])
            nophoto_motions.append(open_motion(c, staff, com["id"], f"CPU纸质无照片{stamp}")["motion_id"])
        _ensure_notices(c, server.base_url, data, notices_com, notices)
    households = asyncio.run(_households([c["id"] for c in paper_coms]))

    def tokens(com: dict[str, Any]) -> list[dict[str, str]]:
        # like the tokens sign-in issues: naming a refresh family, so the revocation check runs
        return [bearer(_access_token(r["user_id"])) for r in com["residents"]]

    me_heads = tokens(ballot_coms[0])
    me = [Req("GET", f"{API}/me", h) for h in me_heads]
    notice_heads = tokens(notices_com)
    notices_reqs = [Req("GET", f"{API}/communities/{notices_com['id']}/notices", h) for h in notice_heads]
    # ballots: the communities interleaved, so the rotation walks 6,000 different households before any repeats
    per_com = [list(zip(tokens(com), [m] * len(com["residents"]), strict=True))
               for com, m in zip(ballot_coms, motion_ids, strict=True)]
    ballots: list[Req] = []
    for k in range(max(len(p) for p in per_com)):
        for p in per_com:
            if k < len(p):
                h, m = p[k]
                body = json.dumps({"choice": CHOICES[(k + len(ballots)) % 3]}).encode()
                ballots.append(Req("PUT", f"{API}/motions/{m}/ballot", h | {"Content-Type": "application/json"},
                                   body))
    lists = [households[c["id"]] for c in paper_coms]

    def paper_rotation(motions: list[str]) -> list[Req]:
        out: list[Req] = []
        for k in range(max(len(x) for x in lists)):
            for j, hs in enumerate(lists):
                if k < len(hs):
                    pre, post = _paper_parts(hs[k], CHOICES[k % 3])
                    out.append(Req("POST", f"{API}/motions/{motions[j]}/paper-ballots",
                                   paper_staff[j] | {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                                   pre, post))
        return out

    paper, nophoto = paper_rotation(paper_motions), paper_rotation(nophoto_motions)
    jwt_head = me_heads[0]
    # the statement count takes the LAST households of each rotation (the load starts at the first ones)
    eps = {
        "bare": Endpoint("bare", "bare FastAPI, GET returning JSON", "bare", [Req("GET", "/plain", {})]),
        "bare_jwt": Endpoint("bare_jwt", "bare FastAPI, GET with an HS256 decode", "bare",
                             [Req("GET", "/jwt", jwt_head)]),
        "bare_db": Endpoint("bare_db", "bare FastAPI, HS256 decode + 2 indexed reads in one ORM session", "bare",
                            [Req("GET", "/jwt_db", h.headers) for h in me]),
        "bare_conn": Endpoint("bare_conn", "bare FastAPI, HS256 decode + the same reads on a Core connection",
                              "bare", [Req("GET", "/jwt_conn", h.headers) for h in me]),
        "healthz": Endpoint("healthz", "this app, GET /healthz", "app", [Req("GET", "/healthz", {})]),
        "me": Endpoint("me", "this app, GET /api/v1/me (resident)", "app", me, count=me[-40:]),
        "notices": Endpoint("notices", f"this app, GET …/notices (resident, {notices} notices)", "app",
                            notices_reqs, count=notices_reqs[-40:]),
        "ballot": Endpoint("ballot", "this app, PUT /api/v1/motions/{id}/ballot", "app", ballots[:-60],
                           count=ballots[-60:]),
        "paper": Endpoint("paper", "this app, POST …/paper-ballots (64×48 JPEG)", "app", paper[:-60], expect=201,
                          count=paper[-60:]),
        "paper_nophoto": Endpoint("paper_nophoto", "the same, without the photo work (bench.without_photos)",
                                  "nophoto", nophoto[:-60], expect=201),
    }
    return Setup(eps, motion_ids, paper_motions + nophoto_motions, notices_com["id"], notices)


# ---- statements per request (in process) --------------------------------------------------------------

async def count_statements(eps: list[Endpoint], photo: bytes) -> dict[str, Any]:
    """The app built here on the same database; each endpoint's count requests (a few warm-up first) with every
    statement the engines send captured. Averages per request, by kind, and one request's statements."""
    from app.main import create_app
    from bench.common import capture_sql

    app = create_app(app_settings())
    out: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as c:
            db = app.state.db
            engines = [db.writer] if db.reader is db.writer else [db.writer, db.reader]
            for ep in eps:
                if not ep.count:
                    continue
                warm, measured = ep.count[:5], ep.count[5:]
                for r in warm:
                    resp = await c.request(r.method, r.path, headers=r.headers, content=r.content(photo))
                    assert resp.status_code == ep.expect, resp.text
                per_request: list[list[str]] = []
                for r in measured:
                    with ExitStack() as stack:
                        caps = [stack.enter_context(capture_sql(e)) for e in engines]
                        resp = await c.request(r.method, r.path, headers=r.headers, content=r.content(photo))
                    assert resp.status_code == ep.expect, resp.text
                    per_request.append([" ".join(s.statement.split()) for cap in caps for s in cap])
                kinds: Counter[str] = Counter()
                for stmts in per_request:
                    kinds.update(s.split()[0].upper() for s in stmts)
                n = len(per_request)
                begins = kinds.pop("BEGIN", 0)
                sql = sum(kinds.values())
                out[ep.name] = {"requests": n, "statements": round(sql / n, 2),
                                "by_kind": {k: round(v / n, 2) for k, v in sorted(kinds.items())},
                                "begin": round(begins / n, 2),
                                "min": min(sum(1 for s in x if not s.upper().startswith("BEGIN")) for x in per_request),
                                "max": max(sum(1 for s in x if not s.upper().startswith("BEGIN")) for x in per_request),
                                "example": [s[:300] for s in per_request[-1]]}
    finally:
        await app.state.db.dispose()
        await app.state.http.aclose()
    return out


async def photo_work_ms(photo: bytes, repeat: int = 300) -> float:
    """CPU ms of checking, cleaning and storing the slip photo (what the paper ballot does with it)."""
    from fastapi import UploadFile
    from starlette.datastructures import Headers

    from app.media.images import Staging
    from app.media.storage import LocalStorage

    settings = app_settings()
    with tempfile.TemporaryDirectory(dir=RESULTS) as tmp:
        settings = settings.model_copy(update={"media_dir": Path(tmp)})
        storage = LocalStorage(Path(tmp))

        async def once() -> None:
            up = UploadFile(io.BytesIO(photo), size=len(photo), filename="slip.jpg",
                            headers=Headers({"content-type": "image/jpeg"}))
            async with Staging(storage, settings) as staging:
                await staging.image(up)
                await staging.install()

        for _ in range(10):
            await once()
        c0 = time.process_time()
        for _ in range(repeat):
            await once()
        return (time.process_time() - c0) / repeat * 1000


# ---- the run ---------------------------------------------------------------------------------------------

async def _db_counts(motion_ids: list[str]) -> dict[str, int]:
    from app.core.db import Database

    db = Database(app_settings())
    try:
        async with db.reader.connect() as conn:
            marks = ", ".join(f":m{i}" for i in range(len(motion_ids)))
            params = {f"m{i}": m for i, m in enumerate(motion_ids)}
            out = {}
            for table in ("ballot", "current_ballot"):
                q = text(f"SELECT count(*) FROM {table} WHERE motion_id IN ({marks})")
                out[table] = int((await conn.execute(q, params)).scalar() or 0)
            return out
    finally:
        await db.dispose()


def run_db(kind: str, a: argparse.Namespace, client: str) -> dict[str, Any]:
    from bench.generate import ensure_dataset

    if kind == "postgresql":
        os.environ["DATABASE_URL"] = a.pg_url
    else:
        os.environ.pop("DATABASE_URL", None)
    url = database_url()
    asyncio.run(ensure_database(url))
    data = asyncio.run(ensure_dataset())
    only = [e for e in ENDPOINTS if e in a.only]
    photo = _tiny_jpeg()
    tmpdir = Path(tempfile.mkdtemp(prefix="cpu-", dir=RESULTS))
    bare = BareServer(url).start()
    server = Server(url).start()
    nophoto_server: Server | None = None
    rows: list[dict[str, Any]] = []
    figures: dict[str, dict[str, Any]] = {}
    try:
        if "paper_nophoto" in only:  # its background worker stays off: the service's runs (one per SQLite file)
            nophoto_server = Server(url, module="bench.without_photos", args=("--no-worker",)).start()
        s = setup(server, data, notices=a.notices)
        counts_before = asyncio.run(_db_counts(s.motion_ids))
        statements = asyncio.run(count_statements([s.endpoints[e] for e in only if e in APP_ENDPOINTS], photo))
        paper_photo = asyncio.run(photo_work_ms(photo)) if "paper" in only else None
        dbcpu = DbCpu(url)
        print(f"\n{kind}: {load_note()}; client {client}, {a.connections} connections, {a.seconds:g} s per endpoint")
        for name in only:
            ep = s.endpoints[name]
            srv = {"bare": bare, "app": server, "nophoto": nophoto_server}[ep.base]
            assert srv is not None
            # sanity: one request through the network path must give the expected status
            r0 = ep.requests[0]
            r = httpx.request(r0.method, srv.base_url + r0.path, headers=r0.headers, content=r0.content(photo),
                              timeout=30)
            if r.status_code != ep.expect:
                raise RuntimeError(f"{name}: {r.status_code} {r.text[:300]}")
            offset = 1
            script = tmpdir / f"{name}.lua"
            if client == "wrk":
                script.write_text(_lua_script(ep.requests, photo))

            def load(seconds: float, off: int, ep: Endpoint = ep, srv: Server = srv, script: Path = script) -> LoadRun:
                if client == "wrk":
                    return _wrk(srv.base_url, script, seconds=seconds, connections=a.connections, offset=off)
                return _python_load(srv.base_url, ep.requests, photo, seconds=seconds, connections=a.connections,
                                    offset=off, expect=ep.expect)

            warm = load(a.warmup, offset)
            offset += warm.requests + a.connections  # the requests still in flight when the warm-up stopped
            assert srv.proc is not None
            spy = _py_spy_start(srv.proc.pid, a.seconds, RESULTS / f"pyspy_{name}_{kind}.txt") if a.py_spy else None
            user0, sys0 = _proc_cpu_split(srv.proc.pid)
            dbcpu.start()
            run = load(a.seconds, offset)
            user1, sys1 = _proc_cpu_split(srv.proc.pid)
            cpu, kernel = (user1 + sys1) - (user0 + sys0), sys1 - sys0
            if spy is not None:
                _py_spy_report(spy, RESULTS / f"pyspy_{name}_{kind}.txt")
            db_s = dbcpu.seconds() if ep.base != "bare" else None
            answered = max(run.requests, 1)
            f = {"label": ep.label, "req_s": round(run.requests / run.seconds, 1),
                 "cpu_ms": round(cpu / answered * 1000, 3), "kernel_cpu_ms": round(kernel / answered * 1000, 3),
                 "errors": run.errors, "p50_ms": run.p50_ms,
                 "p99_ms": run.p99_ms, "server_cpu_pct": round(cpu / run.seconds * 100),
                 "client_cpu_pct": round(run.client_cpu_s / run.seconds * 100),
                 "db_cpu_ms": round(db_s / answered * 1000, 3) if db_s is not None else None,
                 "statements": statements.get(name, {}).get("statements"),
                 "requests": run.requests, "rotation": len(ep.requests), "warmup_requests": warm.requests}
            if name == "ballot":
                time.sleep(1)  # the requests in flight when wrk stopped finish first
                after = asyncio.run(_db_counts(s.motion_ids))
                first = after["current_ballot"] - counts_before["current_ballot"]
                f["first_ballots"] = first
                f["changed_ballots"] = (after["ballot"] - counts_before["ballot"]) - first
            figures[name] = f
            print(f"  {name:9} {f['req_s']:>8} req/s  {f['cpu_ms']:>7} ms CPU/req (kernel {f['kernel_cpu_ms']})  "
                  f"errors {run.errors}")
        ref = figures.get("bare_jwt")
        if "paper" in figures and paper_photo is not None:
            figures["paper"]["photo_work_ms"] = round(paper_photo, 3)
            figures["paper"]["cpu_ms_without_photo"] = round(figures["paper"]["cpu_ms"] - paper_photo, 3)
        for name, f in figures.items():
            if ref and ref["cpu_ms"]:
                f["ratio_to_bare_jwt"] = round(ref["cpu_ms"] / f["cpu_ms"], 4) if f["cpu_ms"] else None
            stm = statements.get(name)
            rows.append({"endpoint": f["label"], "req/s": f["req_s"], "CPU ms/req": f["cpu_ms"],
                         "vs bare+JWT": f"{f['ratio_to_bare_jwt']:.0%}" if f.get("ratio_to_bare_jwt") else "",
                         "SQL/req": f"{stm['statements']:g}" if stm else "",
                         "db CPU ms/req": f["db_cpu_ms"] if f["db_cpu_ms"] is not None else "",
                         "p99 ms": f["p99_ms"], "errors": f["errors"], "server CPU": f"{f['server_cpu_pct']}%",
                         "client CPU": f"{f['client_cpu_pct']}%"})
        rss = server.peak_rss_mb()
    finally:
        server.stop()
        bare.stop()
        if nophoto_server is not None:
            nophoto_server.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)
    goals = _goals(figures)
    print_table(f"server CPU per request ({kind}, {data.get('households')} households, {client}, "
                f"{a.connections} connections; {load_note()})", rows)
    for name, st in statements.items():
        print(f"  {name}: {st['statements']:g} statements/request {st['by_kind']} (min {st['min']}, max "
              f"{st['max']}; BEGIN issued by the app: {st['begin']:g})")
    if "paper" in figures and "photo_work_ms" in figures["paper"]:
        p = figures["paper"]
        print(f"  paper: {p['cpu_ms']} ms per request, of which the photo work {p['photo_work_ms']} ms "
              f"(measured alone, in process) → {p['cpu_ms_without_photo']} ms without it by subtraction"
              + (f"; {figures['paper_nophoto']['cpu_ms']} ms measured without it (paper_nophoto)"
                 if "paper_nophoto" in figures else ""))
    if "ballot" in figures:
        b = figures["ballot"]
        print(f"  ballot: {b['first_ballots']} first ballots, {b['changed_ballots']} changed ones")
    print_table("goals", [{"goal": k, "result": v} for k, v in goals.items()])
    return {"households": data.get("households"), "client": client, "connections": a.connections,
            "seconds": a.seconds, "figures": figures, "statements": statements, "goals": goals,
            "server_peak_rss_mb": rss, "notices": {"community_id": s.notices_community, "staff_notices": s.notices_count}}


def _goals(f: dict[str, dict[str, Any]]) -> dict[str, str]:
    out = {}
    for name, limit in GOALS_MS.items():
        if name in f and "cpu_ms" in f[name]:
            v = f[name]["cpu_ms"]
            out[f"{name} ≤ {limit} ms"] = f"{'met' if v <= limit else 'NOT met'} ({v} ms)"
    for name, limit in GOALS_RATIO.items():
        if name in f and f[name].get("ratio_to_bare_jwt") is not None:
            v = f[name]["ratio_to_bare_jwt"]
            out[f"{name} ≥ {limit:.0%} of bare+JWT"] = f"{'met' if v >= limit else 'NOT met'} ({v:.1%})"
    for name, stmts in (("me", 2), ("ballot", 6)):
        if name in f and f[name].get("statements") is not None:
            v = f[name]["statements"]
            out[f"{name} ≤ {stmts} statements"] = f"{'met' if v <= stmts else 'NOT met'} ({v:g})"
    errors = sum(x["errors"] for x in f.values())
    out["0 errors"] = "met" if errors == 0 else f"NOT met ({errors})"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--seconds", type=float, default=10, help="measured seconds per endpoint")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each endpoint")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--only", default=",".join(ENDPOINTS), help=f"comma-separated, of {','.join(ENDPOINTS)}")
    p.add_argument("--notices", type=int, default=10, help="staff notices in the notices community")
    p.add_argument("--py-spy", action="store_true",
                   help="sample the server with py-spy during each measured run (slows it: figures are not for the table)")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    a = p.parse_args()
    a.only = [x.strip() for x in a.only.split(",") if x.strip()]
    unknown = set(a.only) - set(ENDPOINTS)
    if unknown:
        raise SystemExit(f"unknown endpoints: {sorted(unknown)}")
    client = a.client if a.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    if client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk); --client python uses httpx")
    kinds = ["sqlite", "postgresql"] if a.db == "both" else [a.db]
    started = datetime.now(UTC)
    for kind in kinds:
        out = run_db(kind, a, client)
        out["run"] = {"started": started.isoformat(timespec="seconds"), "id": uuid.uuid4().hex[:8],
                      "machine": machine()}
        write_json(f"cpu_{kind}", out)
    print(f"\ntotal {(datetime.now(UTC) - started) / timedelta(seconds=1):.0f} s")


if __name__ == "__main__":
    main()
