"""The proof that the service runs as several instances: two `serve --no-worker` processes (A and B) on their
own ports and their own MEDIA_DIR, one `worker` process, PostgreSQL, Redis, SeaweedFS and a fake WeChat
server, all on 127.0.0.1. Requests alternate between A and B:

* a report filed with photos through A is served by B (the blobs are in the object store, not on A's disk);
* 200 ballots on one motion, split across A and B, leave the running tally equal to the full count;
* failed sign-ins counted at A are limited at B (the counters are in Redis);
* a reminder reaches the fake WeChat once (the worker sends; both instances pressing the button queue one).

PostgreSQL and Redis only (REDIS_URL; the PostgreSQL pass of .ci/run): SQLite is the one-process default.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import _pg_base_url
from tests.factories import populate_world
from tests.fakes import FakeWechat
from tests.media.imaging import phone_jpeg, png_bytes
from tests.reliability.conftest import ADMIN_PASS, ADMIN_USER, drop_database, process_database
from tests.serverproc import ROOT, ServerProcess, free_port
from tests.supervision.helpers import file_report, project_with_people
from tests.turnout.helpers import bind_wechat
from tests.voting.helpers import make_motion, make_plan, make_project

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_pg_base_url() is None or not os.environ.get("REDIS_URL"),
                       reason="several instances need PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)"),
]

API = "/api/v1"
RESIDENTS = 50
BALLOTS_EACH = 4  # 50 households × 4 = 200 ballots
CHOICES = ("agree", "disagree", "abstain")


class WechatServer:
    """tests.fakes.FakeWechat behind a real HTTP server on 127.0.0.1 (the worker and the instances are other
    processes)."""

    def __init__(self) -> None:
        self.fake = FakeWechat()
        self.lock = threading.Lock()
        fake, lock = self.fake, self.lock

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(self.command, f"http://wechat.local{self.path}", content=body)
                with lock:
                    response = fake.handler(request)
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> WechatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def households_csv(n: int) -> str:
    rows = ["building,unit,room,area_m2,owner_key"]
    for i in range(n):
        rows.append(f"{1 + i // 20},{1 + (i // 10) % 2},{101 + i % 10},{80 + i % 7}.{i % 100:02d},")
    return "\n".join(rows) + "\n"


@pytest.fixture
def cluster(tmp_path: Path, seaweedfs) -> Iterator[dict]:
    url, name = process_database(tmp_path)
    bucket = seaweedfs.create_bucket()
    with WechatServer() as wechat:
        env = {
            "REDIS_URL": os.environ["REDIS_URL"], "RATE_LIMIT_ENABLED": "true",
            "RATE_LIMIT_PREFIX": f"rl-{uuid.uuid4().hex[:8]}:", "OUTBOX_SENDER": "wechat",
            "WECHAT_API_BASE": wechat.base_url, "WECHAT_APPID": f"wx-{uuid.uuid4().hex[:10]}",
            "OUTBOX_INTERVAL_S": "0.5",
        } | seaweedfs.env(bucket)
        procs = []
        for label in ("a", "b"):
            workdir = tmp_path / label
            workdir.mkdir()
            proc = ServerProcess(url, workdir, env, serve_args=("--no-worker", "--no-migrate"))
            proc.env["REDIS_URL"] = env["REDIS_URL"]  # ServerProcess drops it by default
            procs.append(proc)
        a, b = procs
        migrated = a.cli("create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASS)  # migrates first
        assert migrated.returncode == 0, migrated.stderr
        worker_log = tmp_path / "worker.log"
        worker = None
        try:
            a.start()
            b.start()
            with open(worker_log, "wb") as out:
                worker = subprocess.Popen([sys.executable, "-m", "app", "worker", "--no-migrate"], cwd=ROOT,
                                          env=a.env | {"MEDIA_DIR": str(tmp_path / "worker-media")}, stdout=out,
                                          stderr=subprocess.STDOUT)
            yield {"a": a, "b": b, "worker": worker, "worker_log": worker_log, "wechat": wechat.fake,
                   "seaweedfs": seaweedfs, "bucket": bucket}
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=20)
            a.stop()
            b.stop()
            drop_database(name)


async def test_two_instances_and_a_worker(cluster) -> None:
    a_proc, b_proc, wechat = cluster["a"], cluster["b"], cluster["wechat"]
    assert cluster["worker"].poll() is None, cluster["worker_log"].read_text()
    async with (httpx.AsyncClient(base_url=a_proc.base_url, timeout=60) as a,
                httpx.AsyncClient(base_url=b_proc.base_url, timeout=60) as b):
        for inst in (a, b):
            ready = (await inst.get("/readyz")).json()
            assert ready["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}, ready
        world = await populate_world(a, ADMIN_USER, ADMIN_PASS, residents=RESIDENTS,
                                     csv_text=households_csv(RESIDENTS + 4))

        # ---- a report filed with photos through A is served by B
        p = await project_with_people(a, world)
        r = await file_report(a, p.id, p.supervisor, phone_jpeg(), png_bytes())
        assert r.status_code == 201, r.text
        served = set()
        for photo in r.json()["photos"]:
            at_a, at_b = (await a.get(photo["url"], headers=p.supervisor),
                          await b.get(photo["url"], headers=p.supervisor))
            assert at_a.status_code == at_b.status_code == 200 and at_a.content == at_b.content
            assert at_b.headers["content-security-policy"] == "default-src 'none'; sandbox"
            assert len(at_b.content) == photo["size_bytes"]
            thumb = await b.get(photo["thumbnail_url"], headers=p.supervisor)
            assert thumb.status_code == 200
            served |= {hashlib.sha256(at_b.content).hexdigest(), hashlib.sha256(thumb.content).hexdigest()}
        assert {k.rsplit("/", 1)[1] for k in cluster["seaweedfs"].keys(cluster["bucket"])} == served
        for proc in (a_proc, b_proc):  # nothing on either instance's disk but the empty scratch directory
            assert [f for f in (proc.workdir / "media").rglob("*") if f.is_file()] == []

        # ---- 200 ballots on one motion, alternating between A and B
        now = datetime.now(UTC)
        pid = await make_project(a, world)
        plan = await make_plan(b, world, pid)
        motion = await make_motion(a, world, plan["id"], now - timedelta(seconds=5),
                                   closes_at=(now + timedelta(days=7)).isoformat())
        mid = motion["id"]
        rnd = random.Random(18)
        last: dict[str, str] = {}
        statuses: Counter[int] = Counter()
        gate = asyncio.Semaphore(16)

        async def household(i: int) -> None:
            resident = world.residents[i]
            for k in range(BALLOTS_EACH):
                choice = rnd.choice(CHOICES)
                inst = (a, b)[(i + k) % 2]
                async with gate:
                    r = await inst.put(f"{API}/motions/{mid}/ballot", headers=resident.headers,
                                       json={"choice": choice})
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    last[resident.household_id] = choice

        await asyncio.gather(*(household(i) for i in range(RESIDENTS)))
        assert statuses == Counter({200: RESIDENTS * BALLOTS_EACH}), statuses
        area = {h["id"]: int(h["area_m2"].replace(".", "")) for h in world.households}
        running_a = (await a.get(f"{API}/motions/{mid}/tally", headers=world.staff)).json()
        running_b = (await b.get(f"{API}/motions/{mid}/tally", headers=world.staff)).json()
        assert running_a["counts"] == running_b["counts"] and running_a["final"] is False
        counts = running_b["counts"]
        for choice in CHOICES:
            mine = [h for h, c in last.items() if c == choice]
            assert counts[f"{choice}_households"] == len(mine)
            assert counts[f"{choice}_area"] == sum(area[h] for h in mine)
        assert counts["participating_households"] == RESIDENTS
        closed = await b.post(f"{API}/motions/{mid}/close", headers=world.staff)
        assert closed.status_code == 200, closed.text
        final = closed.json()["tally"]
        assert final["final"] is True and final["counts"] == counts  # the full count equals the running tally
        assert (await a.get(f"{API}/motions/{mid}/tally", headers=world.staff)).json()["counts"] == counts

        # ---- failed sign-ins counted at A are limited at B (5 free per username and address, then waits)
        for k in range(6):
            r = await (a, b)[k % 2].post(f"{API}/auth/token", data={"username": "staff1", "password": "wrong"})
            assert r.status_code == 401, (k, r.text)
        r = await b.post(f"{API}/auth/token", data={"username": "staff1", "password": "wrong"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
        r = await a.post(f"{API}/auth/token", data={"username": "staff1", "password": "wrong"})
        assert r.status_code == 429

        # ---- a reminder reaches the fake WeChat once
        bound = [await bind_wechat(a if i % 2 else b, wechat, world, world.households[RESIDENTS + i]["id"],
                                   openid=f"openid-{i}", phone=f"1370000{i:04d}") for i in range(2)]
        plan2 = await make_plan(a, world, await make_project(b, world, title="加装电梯"))
        motion2 = await make_motion(b, world, plan2["id"], datetime.now(UTC) - timedelta(seconds=5),
                                    closes_at=(datetime.now(UTC) + timedelta(days=7)).isoformat(),
                                    title="关于加装电梯的表决")
        for inst in (a, b):  # both instances press the button (the first may find the worker's automatic one)
            r = await inst.post(f"{API}/motions/{motion2['id']}/reminders", headers=world.staff)
            assert r.status_code == 202, r.text
        openids = {x.openid for x in bound}

        def delivered() -> Counter[str]:
            return Counter(m["touser"] for m in list(wechat.sent) if m["touser"] in openids
                           and motion2["id"] in m.get("page", ""))

        deadline = time.monotonic() + 30
        while set(delivered()) != openids:
            assert time.monotonic() < deadline, (delivered(), cluster["worker_log"].read_text()[-3000:])
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # four more worker rounds: nothing is sent twice
        assert delivered() == Counter({o: 1 for o in openids})
        assert wechat.token_calls == 1  # fetched once, by the worker
        assert cluster["worker"].poll() is None

        # ---- the instances send nothing themselves (serve --no-worker): with the worker stopped, a queued
        # reminder waits; one round of `worker --once` sends it
        cluster["worker"].terminate()
        assert cluster["worker"].wait(timeout=20) == 0
        late = await bind_wechat(a, wechat, world, world.households[RESIDENTS + 2]["id"], openid="openid-late",
                                 phone="13700009999")
        r = await a.post(f"{API}/motions/{motion2['id']}/reminders", headers=world.staff)
        assert r.status_code == 202 and r.json()["queued_messages"] == 1, r.text
        await asyncio.sleep(2.0)  # four of the instances' OUTBOX_INTERVAL_S
        assert late.openid not in {m["touser"] for m in list(wechat.sent)}
        once = await asyncio.to_thread(a_proc.cli, "worker", "--once", "--no-migrate")
        assert once.returncode == 0, once.stderr
        assert [m["touser"] for m in list(wechat.sent)].count(late.openid) == 1
        assert delivered() == Counter({o: 1 for o in openids}) and wechat.token_calls == 1  # the token from Redis
    log = cluster["worker_log"].read_text()
    assert "worker running" in log and "Traceback" not in log, log[-3000:]
