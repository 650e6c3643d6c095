"""Ballot load: 200 concurrent households casting and changing ballots, against the framework's ceiling.

    python -m bench.ballots [--concurrency 200] [--seconds 20] [--motions 1] [--idempotency-key] [--think S]
                            [--instances N]

One uvicorn process serves (bench.common.Server, 127.0.0.1 only); this process is the load generator
(httpx async). Each worker is one household of the first community (owners with real access JWTs minted
for the residents bench.generate created) and casts ballots back to back — first casts and changes, a
random choice each time, cycling through 2,000 households. The same load against ``GET /api/v1/me`` (a
trivial authenticated endpoint) gives the framework's ceiling; the ratio is reported.

By default the workers send back to back (closed loop: 200 requests always in flight, the most load 200
clients can make — latency is then queueing: p99 ≈ 200 / throughput). ``--think S`` makes each household
pause a random think time of mean S seconds between ballots (an offered load of about 200 / S per second),
which is what "p99 at 200 concurrent households" means for people voting from a WeChat push.

``--motions K`` spreads the households over K communities with one open motion each (a city where several
communities vote at once) instead of one hot motion. Goals (issue 8): ratio >= 50 %; p99 < 100 ms at 200
concurrent on PostgreSQL; server RSS < 300 MB; 0 errors.

``--instances N`` (PostgreSQL; issue 18) starts N identical app processes on the same database (the first
with the periodic worker, the others as ``serve --no-worker`` would) and measures both phases twice: all
households on one instance, then the same households spread evenly over the N instances (household w talks
to instance w % N, as a load balancer would spread them). On one machine the instances share its cores
with each other, with PostgreSQL and with the load generator, so the comparison shows what a second process
adds there, not what a second machine would.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from app.core.db import Database
from bench.common import (
    API,
    LoadResult,
    Server,
    app_settings,
    bearer,
    database_url,
    db_kind,
    goal,
    load_note,
    login,
    mint_token,
    open_motion,
    print_table,
    run_load,
    write_json,
)
from bench.generate import ensure_dataset

CHOICES = ("agree", "disagree", "abstain")


async def _db_counts(motion_ids: list[str]) -> dict[str, int]:
    db = Database(app_settings())
    try:
        async with db.reader.connect() as conn:
            out = {}
            marks = ", ".join(f":m{i}" for i in range(len(motion_ids)))
            params = {f"m{i}": m for i, m in enumerate(motion_ids)}
            for table in ("ballot", "current_ballot"):
                q = text(f"SELECT count(*) FROM {table} WHERE motion_id IN ({marks})")
                out[table] = int((await conn.execute(q, params)).scalar() or 0)
            return out
    finally:
        await db.dispose()


def merged(name: str, parts: list[LoadResult], concurrency: int, seconds: float) -> LoadResult:
    """One phase's result from its per-instance parts (same measured window)."""
    out = LoadResult(name, concurrency, seconds)
    for part in parts:
        out.latencies.extend(part.latencies)
        for code, n in part.errors.items():
            out.errors[code] = out.errors.get(code, 0) + n
    return out


async def spread_load(servers: list[Server], name: str, fn: Any, *, concurrency: int, seconds: float,
                      think: float) -> LoadResult:
    """``concurrency`` households over ``servers``: household w talks to server w % len(servers)."""
    n = len(servers)

    def on(k: int) -> Any:
        async def request(client: httpx.AsyncClient, w: int, i: int) -> httpx.Response:
            return await fn(client, w * n + k, i)  # back to the household's global number
        return request

    parts = await asyncio.gather(*(
        run_load(servers[k].base_url, name, on(k), concurrency=len(range(k, concurrency, n)), seconds=seconds,
                 think=think) for k in range(n)))
    return merged(name, list(parts), concurrency, seconds)


async def bench(concurrency: int, seconds: float, motions: int, idem: bool, think: float,
                instances: int = 1) -> dict[str, Any]:
    data = await ensure_dataset()
    communities = [c for c in data["communities"] if c["residents"]][:motions]
    if len(communities) < motions:
        raise SystemExit(f"only {len(communities)} communities have residents; run bench.generate "
                         f"--resident-communities {motions}")
    if instances > 1 and db_kind() != "postgresql":
        raise SystemExit("--instances needs PostgreSQL (DATABASE_URL): SQLite is served by one process")
    server = Server(database_url()).start()
    servers = [server]
    try:
        for _ in range(instances - 1):  # the others without the periodic worker, as `serve --no-worker`
            servers.append(Server(database_url(), env={"RUN_WORKER": "false"}).start())
        rows: list[dict[str, Any]] = []
        with httpx.Client(base_url=server.base_url, timeout=60) as c:
            motion_ids = []
            for i, com in enumerate(communities):
                staff = login(server.base_url, com["staff_username"], data["staff_password"])
                motion_ids.append(open_motion(c, staff, com["id"], f"基准表决{i + 1}")["motion_id"])
        # worker w votes in community w % motions for the households assigned to it, in turn
        per_worker: list[list[dict[str, str]]] = [[] for _ in range(concurrency)]
        groups: list[list[int]] = [[w for w in range(concurrency) if w % motions == ci] for ci in range(motions)]
        for ci, com in enumerate(communities):
            ws = groups[ci]
            for j, r in enumerate(com["residents"]):
                per_worker[ws[j % len(ws)]].append(bearer(mint_token(r["user_id"])))
        worker_motion = [motion_ids[w % motions] for w in range(concurrency)]
        rnd = random.Random(11)

        async def me(client: httpx.AsyncClient, w: int, i: int) -> httpx.Response:
            hs = per_worker[w]
            return await client.get(API + "/me", headers=hs[i % len(hs)])

        async def cast(client: httpx.AsyncClient, w: int, i: int) -> httpx.Response:
            hs = per_worker[w]
            h = hs[i % len(hs)]
            if idem:
                h = h | {"Idempotency-Key": uuid.uuid4().hex}
            return await client.put(f"{API}/motions/{worker_motion[w]}/ballot", headers=h,
                                    json={"choice": rnd.choice(CHOICES)})

        # a short warm-up of both paths (imports, caches, connection pools), then the measured phases
        for x in servers:
            await run_load(x.base_url, "warmup", me, concurrency=min(concurrency, 20), seconds=1, warmup=0)
            await run_load(x.base_url, "warmup", cast, concurrency=min(concurrency, 20), seconds=1, warmup=0)
        before = await _db_counts(motion_ids)
        results: list[tuple[LoadResult, float, float]] = []
        scaling: list[dict[str, Any]] = []
        for used in sorted({1, instances}):
            group = servers[:used]
            for name, fn in (("GET /me", me), ("PUT /motions/{id}/ballot", cast)):
                cpu0, wall0, client0 = sum(x.cpu_seconds() for x in group), time.perf_counter(), time.process_time()
                res = await spread_load(group, name, fn, concurrency=concurrency, seconds=seconds, think=think)
                wall = time.perf_counter() - wall0
                server_cpu = (sum(x.cpu_seconds() for x in group) - cpu0) / wall
                client_cpu = (time.process_time() - client0) / wall
                results.append((res, server_cpu, client_cpu))
                rows.append(res.row() | {"instances": used, "server_rss_mb": sum(x.rss_mb() for x in group),
                                         "server_cpu": f"{server_cpu:.0%}", "client_cpu": f"{client_cpu:.0%}"})
            me_res, ballot_res = results[-2][0], results[-1][0]
            scaling.append({"instances": used, "GET /me req/s": round(me_res.rate, 1),
                            "ballots/s": round(ballot_res.rate, 1), "ballot p50 ms": ballot_res.row()["p50_ms"],
                            "ballot p99 ms": ballot_res.row()["p99_ms"],
                            "errors": me_res.error_count + ballot_res.error_count})
        after = await _db_counts(motion_ids)
        peak = max(x.peak_rss_mb() for x in servers)
    finally:
        for x in servers:
            x.stop()
    ceiling, ballots = results[0][0], results[1][0]
    ratio = ballots.rate / ceiling.rate if ceiling.rate else 0.0
    kind = db_kind()
    p99 = float(ballots.row()["p99_ms"])
    goals = {
        "errors == 0": goal(ballots.error_count == 0 and ceiling.error_count == 0),
        "ratio >= 50%": goal(ratio >= 0.5) if not think else "n/a with think time (both follow the offered load)",
        "p99 < 100 ms (PostgreSQL)": goal(p99 < 100) if kind == "postgresql" else f"n/a on SQLite (p99 {p99} ms)",
        "RSS < 300 MB": goal(peak < 300),
    }
    mode = f"think time {think} s, offered ≈ {concurrency / think:.0f} req/s" if think else "back to back"
    print_table(f"ballot load ({kind}, {concurrency} concurrent households, {mode}, {seconds:.0f} s each, "
                f"{motions} motion(s){', Idempotency-Key' if idem else ''}; {load_note()})", rows)
    print_table("summary", [{"ballots/s": round(ballots.rate, 1), "ceiling req/s": round(ceiling.rate, 1),
                             "ratio": f"{ratio:.0%}", "ballot p99 ms": p99, "peak RSS MB": peak,
                             "ballot rows written": after["ballot"] - before["ballot"],
                             "households with a current ballot": after["current_ballot"]}])
    print_table("goals", [goals])
    if instances > 1:
        print_table(f"one instance vs {instances} ({kind}, {concurrency} households, {mode}; the instances, "
                    f"PostgreSQL and the load generator share {os.cpu_count()} CPUs)", scaling)
    for r, _, _ in results:
        if r.errors:
            print(f"errors of {r.name}: {dict(list(r.errors.items())[:5])}")
    return {"concurrency": concurrency, "seconds": seconds, "motions": motions, "idempotency_key": idem,
            "think_s": think, "instances": instances, "scaling": scaling,
            "rows": rows, "ratio": round(ratio, 3), "peak_rss_mb": peak, "goals": goals,
            "errors": {r.name: r.errors for r, _, _ in results},
            "ballot_rows_written": after["ballot"] - before["ballot"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--motions", type=int, default=1, help="communities voting at once (one motion each)")
    p.add_argument("--idempotency-key", action="store_true", help="send a fresh Idempotency-Key with every ballot")
    p.add_argument("--think", type=float, default=0.0, help="mean think time (s) between a household's requests")
    p.add_argument("--instances", type=int, default=1,
                   help="PostgreSQL: also spread the load over N app processes and compare with one")
    a = p.parse_args()
    out = asyncio.run(bench(a.concurrency, a.seconds, a.motions, a.idempotency_key, a.think, a.instances))
    suffix = (f"_m{a.motions}" if a.motions != 1 else "") + ("_idem" if a.idempotency_key else "") + (
        f"_think{a.think:g}" if a.think else "") + (f"_x{a.instances}" if a.instances != 1 else "")
    write_json(f"ballots_{db_kind()}{suffix}", out)


if __name__ == "__main__":
    main()
