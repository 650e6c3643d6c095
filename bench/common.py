"""Shared helpers for the benchmarks: settings, the bench database, a server process, tokens, a load loop,
SQL capture and EXPLAIN, timing tables and JSON output.

Databases: SQLite (``bench/results/bench.db``) by default; PostgreSQL with ``DATABASE_URL``. The benchmarks
wipe and refill their database, so a PostgreSQL database must have ``bench`` in its name (it is created when
missing); ``test`` and every other database are refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BENCH_SECRET = "bench-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
API = "/api/v1"


# ---- database --------------------------------------------------------------------------------------

def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{RESULTS / 'bench.db'}"


def db_kind(url: str | None = None) -> str:
    return "sqlite" if (url or database_url()).startswith("sqlite") else "postgresql"


def create_all_mode() -> bool:
    """``BENCH_CREATE_ALL=1``: build the schema with ``metadata.create_all`` instead of Alembic (a development
    aid for while a domain's migration is not generated yet)."""
    return os.environ.get("BENCH_CREATE_ALL", "").strip().lower() in ("1", "true", "yes")


def sqlite_analyze() -> bool:
    """``BENCH_SQLITE_ANALYZE=1``: give SQLite planner statistics (ANALYZE) — what PRAGMA optimize would do."""
    return os.environ.get("BENCH_SQLITE_ANALYZE", "").strip().lower() in ("1", "true", "yes")


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def check_bench_database(url: str) -> None:
    """Refuse to wipe any PostgreSQL database that is not a benchmark database."""
    if db_kind(url) == "postgresql" and "bench" not in _pg_name(url):
        raise SystemExit(f"refusing to use PostgreSQL database {_pg_name(url)!r}: the benchmarks wipe their "
                         "database; use one with 'bench' in its name, e.g. "
                         "DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench")


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL benchmark database when it does not exist yet (never drops anything)."""
    check_bench_database(url)
    if db_kind(url) != "postgresql":
        return
    import asyncpg

    name = _pg_name(url)
    admin = url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def app_settings(url: str | None = None) -> Any:
    """The app's Settings as the benchmark server sees them."""
    from app.core.config import Settings

    return Settings(database_url=url or database_url(), secret_key=BENCH_SECRET, rate_limit_enabled=False,
                    media_dir=RESULTS / "media", environment="bench")


# ---- machine, stats, output ------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    mem = ""
    cpu = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "cpu": cpu, "memory": mem, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "loadavg_1m": round(os.getloadavg()[0], 2)}


def load_note() -> str:
    """The 1-minute load average against the CPU count (other work on the machine skews every figure)."""
    la, cpus = os.getloadavg()[0], os.cpu_count() or 1
    return f"load average {la:.1f} on {cpus} CPUs" + (" — BUSY MACHINE, figures are pessimistic" if la > cpus else "")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


def summarize_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50) * 1000, 2),
            "p95_ms": round(percentile(values, 95) * 1000, 2), "p99_ms": round(percentile(values, 99) * 1000, 2),
            "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else float("nan")}


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    widths = {c: max(len(str(c)), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(str(c).ljust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols))


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    analyzed = db_kind() == "sqlite" and sqlite_analyze()
    path = RESULTS / f"{name}{'_analyzed' if analyzed else ''}.json"
    payload = {"machine": machine(), "database": database_url().split("://")[0],
               "schema": "create_all" if create_all_mode() else "alembic",
               "sqlite_statistics": analyzed if db_kind() == "sqlite" else None} | payload
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str))
    print(f"\nwrote {path}")
    return path


def goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


# ---- server ----------------------------------------------------------------------------------------

def bench_env(url: str) -> dict[str, str]:
    env = os.environ.copy() | {"DATABASE_URL": url, "SECRET_KEY": BENCH_SECRET, "RATE_LIMIT_ENABLED": "false",
                               "MEDIA_DIR": str(RESULTS / "media"), "ENVIRONMENT": "bench"}
    env.pop("REDIS_URL", None)
    return env


def _proc_status(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


class Server:
    """One uvicorn process serving the app on 127.0.0.1 (the SQLite default is always one worker).

    The schema is prepared by ``bench.generate`` (Alembic, or create_all with BENCH_CREATE_ALL=1), so the
    server starts with ``--no-migrate``.
    """

    def __init__(self, url: str, env: dict[str, str] | None = None, module: str = "app",
                 args: tuple[str, ...] = ()) -> None:
        self.extra_env = env or {}
        self.module = module  # run as ``python -m <module> serve …`` (bench.without_photos: bench.cpu only)
        self.args = args  # more of ``serve``'s options
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = url
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        RESULTS.mkdir(parents=True, exist_ok=True)
        log = open(RESULTS / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, "serve", "--host", "127.0.0.1", "--port",
                                      str(self.port), "--log-level", "warning", "--no-migrate", *self.args], cwd=ROOT,
                                     env=bench_env(self.url) | self.extra_env, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not start; see bench/results/server.log")

    def rss_mb(self) -> float:
        assert self.proc
        return _proc_status(self.proc.pid, "VmRSS")

    def peak_rss_mb(self) -> float:
        """VmHWM: the process's peak resident set since it started."""
        assert self.proc
        return _proc_status(self.proc.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        assert self.proc
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- tokens and API helpers ------------------------------------------------------------------------

def mint_token(user_id: str, *, ttl: timedelta = timedelta(hours=3)) -> str:
    """A real access JWT for ``user_id``, signed with the benchmark server's secret."""
    from app.core.config import Settings
    from app.core.security import create_token

    s = Settings()
    return create_token(secret=BENCH_SECRET, subject=user_id, audience=s.jwt_audience, issuer=s.jwt_issuer,
                        now=datetime.now(UTC), ttl=ttl, extra={"typ": "access"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(base_url: str, username: str, password: str) -> dict[str, str]:
    r = httpx.post(base_url + API + "/auth/token", data={"username": username, "password": password}, timeout=30)
    r.raise_for_status()
    return bearer(r.json()["access_token"])


def api(client: httpx.Client, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
    r = client.request(method, API + path, **kw)
    if r.status_code != expect:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
    return r.json() if r.content else None


def open_motion(client: httpx.Client, staff: dict[str, str], community_id: str, title: str) -> dict[str, Any]:
    """A project, a one-item plan and an open community-wide motion (7 days), through the API as staff."""
    project = api(client, "POST", f"/communities/{community_id}/projects", 201, headers=staff,
                  json={"title": title})
    plan = api(client, "POST", f"/projects/{project['id']}/plans", 201, headers=staff, json={
        "title": f"{title}方案", "description": "屋面防水、雨污分流",
        "items": [{"title": "屋面防水", "budget_fen": 120_000_00,
                   "funding": [{"source": "central_subsidy", "amount_fen": 60_000_00},
                               {"source": "residents", "amount_fen": 30_000_00}]}]})
    now = datetime.now(UTC)
    motion = api(client, "POST", f"/plans/{plan['id']}/motions", 201, headers=staff, json={
        "title": f"关于实施{title}方案的表决", "matter": "renovation_plan",
        "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=7)).isoformat()})
    return {"project_id": project["id"], "plan_id": plan["id"], "motion_id": motion["id"]}


# ---- load ------------------------------------------------------------------------------------------

@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def row(self) -> dict[str, Any]:
        s = summarize_ms(self.latencies)
        return {"endpoint": self.name, "concurrency": self.concurrency, "seconds": round(self.seconds, 1),
                "ok": self.ok, "errors": self.error_count, "req/s": round(self.rate, 1), "p50_ms": s["p50_ms"],
                "p95_ms": s["p95_ms"], "p99_ms": s["p99_ms"]}


RequestFn = Callable[[httpx.AsyncClient, int, int], Awaitable[httpx.Response]]


async def run_load(base_url: str, name: str, request: RequestFn, *, concurrency: int, seconds: float,
                   expect: int = 200, warmup: float = 1.0, ramp: float = 1.0, think: float = 0.0) -> LoadResult:
    """``concurrency`` workers call ``request(client, worker, i)`` for ``seconds`` (after a warm-up whose
    requests are not counted); stops by itself. ``think`` = 0: back to back (closed loop, the most load the
    workers can make); > 0: each worker pauses a random (exponential) think time of that mean between
    requests, like people do. Only the given base_url is contacted."""
    assert base_url.startswith("http://127.0.0.1:"), "the load only goes to 127.0.0.1"
    # idle connections are dropped before uvicorn's 5 s keep-alive timeout, so no request is ever sent on a
    # connection the server is closing (a client-side race that would show up as a ReadError)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    think_rnd = random.Random(3)
    if think > 0:  # people arrive spread over one think time, and that first period is not measured
        ramp, warmup = max(ramp, think), max(warmup, think)
    result = LoadResult(name, concurrency, seconds)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        t_start = time.perf_counter()
        measure_from = t_start + warmup
        stop_at = measure_from + seconds

        async def worker(w: int) -> None:
            await asyncio.sleep(ramp * w / concurrency)  # spread the first requests over the ramp
            i = 0
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    r = await request(client, w, i)
                    code = str(r.status_code) if r.status_code != expect else ""
                    if code:
                        code += " " + r.text[:120]
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at:
                    if code:
                        result.errors[code] = result.errors.get(code, 0) + 1
                    else:
                        result.latencies.append(t1 - t0)
                i += 1
                left = stop_at - time.perf_counter()
                if think > 0 and left > 0:
                    await asyncio.sleep(min(think_rnd.expovariate(1 / think), think * 5, left))

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return result


# ---- SQL capture and EXPLAIN -----------------------------------------------------------------------

@dataclass
class Captured:
    statement: str
    parameters: Any


@contextmanager
def capture_sql(engine: Any) -> Iterator[list[Captured]]:
    """Every statement the engine sends to the database while the block runs: what SQLAlchemy executes (its
    ``before_cursor_execute`` event) and the hot reads that the driver sends directly
    (:mod:`app.core.hotread`, wrapped here for the block)."""
    from sqlalchemy import event

    from app.core import hotread

    out: list[Captured] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        out.append(Captured(statement, parameters))

    driver_rows = hotread._driver_call

    async def counted(conn: Any, dialect: str, sql: str, args: Any, **kw: Any) -> Any:
        done = await driver_rows(conn, dialect, sql, args, **kw)
        # None: a write before the transaction opened, not sent (SQLAlchemy sends it, and the event sees it)
        if done is not None and conn.sync_engine is engine.sync_engine:
            out.append(Captured(sql, tuple(args)))
        return done

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    hotread._driver_call = counted  # type: ignore[assignment]
    try:
        yield out
    finally:
        hotread._driver_call = driver_rows  # type: ignore[assignment]
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def explain(conn: Any, kind: str, stmt: Captured) -> str:
    """EXPLAIN ANALYZE (PostgreSQL, inside the caller's transaction — roll it back) or EXPLAIN QUERY PLAN
    (SQLite) of a captured statement with its real parameters."""
    params = stmt.parameters
    if isinstance(params, list):  # executemany: explain the first row
        params = params[0] if params else ()
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if kind == "postgresql" else "EXPLAIN QUERY PLAN "
    res = await conn.exec_driver_sql(prefix + stmt.statement, params if params else ())
    rows = res.fetchall()
    if kind == "postgresql":
        return "\n".join(r[0] for r in rows)
    return "\n".join(f"{r[0]:>4} {r[1]:>4}  {r[-1]}" for r in rows)


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)


async def principal_for(session: Any, user_id: str) -> Any:
    """The Principal the API would build for ``user_id`` (the same queries as app.auth.deps)."""
    from app.auth import repository as auth_repo
    from app.auth.models import Role
    from app.auth.policy import Principal
    from app.register.service import HouseholdDirectory

    holder = await auth_repo.token_holder(session, user_id, None)
    assert holder is not None, user_id
    households = await HouseholdDirectory().memberships(session, user_id=user_id)

    def scopes(role: Role) -> frozenset[str]:
        return frozenset(scope for r, scope in holder.grants if r == role)

    return Principal(user_id=holder.user_id, name=holder.name, admin_of=scopes(Role.ADMIN), staff_of=scopes(Role.STAFF),
                     supervisor_of=scopes(Role.SUPERVISOR), contractor_of=scopes(Role.CONTRACTOR),
                     households=tuple(households))


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[list[float], list[float], Any]:
    """Run ``fn`` ``repeat`` times: wall durations, this process's CPU durations (seconds; with SQLite the
    queries run in this process's aiosqlite thread, so CPU time is the work itself, whatever else the machine
    is doing), and the last result."""
    walls, cpus = [], []
    last = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        last = await fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, last


async def explain_statements(db: Any, title: str, stmts: list[Captured]) -> str:
    """A report section: every captured statement with its EXPLAIN (each in a transaction rolled back)."""
    kind = "sqlite" if db.is_sqlite else "postgresql"
    parts = [f"==== {title}: {len(stmts)} statements ====\n"]
    for i, st in enumerate(stmts, 1):
        head = st.statement.strip().split()[0].upper()
        parts.append(f"--- [{i}] {' '.join(st.statement.split())}\n    params: {st.parameters!r}"[:4000])
        if head in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            async with db.writer.connect() as conn:
                trans = await conn.begin()
                try:
                    parts.append(await explain(conn, kind, st))
                except Exception as exc:  # noqa: BLE001 - report and go on
                    parts.append(f"(EXPLAIN failed: {type(exc).__name__}: {str(exc)[:300]})")
                finally:
                    await trans.rollback()
        parts.append("")
    return "\n".join(parts)
