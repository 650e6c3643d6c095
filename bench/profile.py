"""Profile a hot path (the ballot by default) with pyinstrument (in-process, through the real ASGI app).

    python -m bench.profile [--requests 400] [--concurrency 20] [--endpoint ballot|me|notices|paper]

The app is built with ``app.main.create_app`` on the benchmark database and driven with httpx's ASGI
transport (no network, no second process: what is measured is the app). Residents cast ballots on an open
motion (``paper``: the community's staff enter paper ballots with a 64×48 JPEG of the slip, as ``bench.cpu``
does); the profile goes to ``bench/results/profile_<endpoint>_<db>.txt`` (``--html``: also ``.html``), with the SQL
statements one request sends. Needs ``pyinstrument`` (a dev extra): ``.venv/bin/pip install pyinstrument``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.common import (
    API,
    RESULTS,
    app_settings,
    bearer,
    capture_sql,
    db_kind,
    mint_token,
    print_table,
    summarize_ms,
    write_json,
)
from bench.generate import ensure_dataset


async def bench(requests: int, concurrency: int, endpoint: str, html: bool = False) -> dict[str, Any]:
    from pyinstrument import Profiler

    from app.main import create_app

    data = await ensure_dataset()
    com = data["communities"][0]
    app = create_app(app_settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as c:
        r = await c.post(API + "/auth/token", data={"username": com["staff_username"],
                                                    "password": data["staff_password"]})
        staff = bearer(r.json()["access_token"])
        now = datetime.now(UTC)
        p = (await c.post(f"{API}/communities/{com['id']}/projects", headers=staff, json={"title": "剖析基准"})).json()
        plan = (await c.post(f"{API}/projects/{p['id']}/plans", headers=staff, json={
            "title": "剖析方案", "items": [{"title": "屋面防水", "budget_fen": 100_000_00}]})).json()
        m = (await c.post(f"{API}/plans/{plan['id']}/motions", headers=staff, json={
            "title": "剖析表决", "matter": "renovation_plan", "opens_at": (now - timedelta(minutes=1)).isoformat(),
            "closes_at": (now + timedelta(days=7)).isoformat()})).json()
        heads = [bearer(mint_token(x["user_id"])) for x in com["residents"][:concurrency * 5]]
        if endpoint == "paper":
            from bench.cpu import BOUNDARY, _households, _paper_parts, _tiny_jpeg

            photo = _tiny_jpeg()
            households = (await _households([com["id"]]))[com["id"]]
            assert len(households) >= requests * 2 + 40, "a paper ballot per household: fewer --requests"
            paper_head = staff | {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        if endpoint == "notices":
            today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
            body = ("根据《城镇老旧小区改造工作指引》，现将本小区改造有关事项公示如下：屋面防水、外墙保温、雨污分流、"
                    "加装电梯意向征集。公示期间如有异议，请通过小程序或到社区居委会书面提出。") * 3
            for i in range(10):
                r = await c.post(f"{API}/projects/{p['id']}/notices", headers=staff, json={
                    "kind": ("plan", "funding", "other")[i % 3], "title": f"剖析公示第{i + 1}号", "body": body,
                    "start_date": today.isoformat()})
                assert r.status_code == 201, r.text

        async def one(i: int) -> httpx.Response:
            h = heads[i % len(heads)]
            if endpoint == "me":
                return await c.get(API + "/me", headers=h)
            if endpoint == "notices":
                return await c.get(f"{API}/communities/{com['id']}/notices", headers=h)
            if endpoint == "paper":
                pre, post = _paper_parts(households.pop(), ("agree", "disagree", "abstain")[i % 3])
                return await c.post(f"{API}/motions/{m['id']}/paper-ballots", headers=paper_head,
                                    content=pre + photo + post)
            return await c.put(f"{API}/motions/{m['id']}/ballot", headers=h,
                               json={"choice": ("agree", "disagree", "abstain")[i % 3]})

        for i in range(20):  # warm-up: imports, statement caches, pools
            assert (await one(i)).status_code in (200, 201)
        db = app.state.db
        engines = [db.writer] if db.reader is db.writer else [db.writer, db.reader]
        with ExitStack() as stack:
            captured = [stack.enter_context(capture_sql(e)) for e in engines]
            assert (await one(0)).status_code in (200, 201)
        stmts = [" ".join(s.statement.split())[:160] for cap in captured for s in cap]
        latencies: list[float] = []
        todo = list(range(requests))  # drained by the workers

        async def worker() -> None:
            while todo:
                i = todo.pop()
                t0 = time.perf_counter()
                r = await one(i)
                latencies.append(time.perf_counter() - t0)
                assert r.status_code in (200, 201), r.text

        # first without the profiler: the CPU time one request costs this process (app + driver + client)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu_ms = (time.process_time() - cpu0) / requests * 1000
        wall = time.perf_counter() - t0
        plain = summarize_ms(latencies)
        todo.extend(range(requests))
        prof = Profiler(interval=0.001, async_mode="enabled")
        prof.start()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        prof.stop()
    await db.dispose()
    kind = db_kind()
    name = f"profile_{endpoint}_{kind}"
    text_out = prof.output_text(unicode=False, color=False, show_all=False)
    (RESULTS / f"{name}.txt").write_text(
        f"# {endpoint} × {requests}, {concurrency} concurrent, in-process ASGI, {kind}\n"
        f"# SQL statements per request ({len(stmts)}):\n" + "\n".join(f"#   {s}" for s in stmts) + "\n\n" + text_out)
    if html:
        (RESULTS / f"{name}.html").write_text(prof.output_html())  # tens of MB: every sample
    heads_count = Counter(s.split()[0] for s in stmts)
    row = {"endpoint": endpoint, "requests": requests, "concurrency": concurrency, "req/s": round(requests / wall, 1),
           **{k: v for k, v in plain.items() if k != "n"}, "CPU ms per request": round(cpu_ms, 1),
           "SQL per request": len(stmts), "by kind": dict(heads_count)}
    print_table(f"in-process profile ({kind})", [row])
    print(f"\nprofile: {RESULTS / (name + '.txt')}{' (and .html)' if html else ''}\n")
    print(text_out[:6000])
    return {"row": row, "statements": stmts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--endpoint", choices=("ballot", "me", "notices", "paper"), default="ballot")
    p.add_argument("--html", action="store_true", help="also write the interactive pyinstrument HTML (large)")
    a = p.parse_args()
    out = asyncio.run(bench(a.requests, a.concurrency, a.endpoint, a.html))
    write_json(f"profile_{a.endpoint}_{db_kind()}", out)


if __name__ == "__main__":
    main()
