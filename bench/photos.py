"""Photo reports: concurrent uploads of 3 × ~4 MB phone JPEGs to ``POST /api/v1/projects/{id}/reports``.

    python -m bench.photos [--levels 1,5,20] [--reports 20]

Three realistic phone photos are made once with Pillow (4032×3024, noisy so they really are ~4 MB, EXIF with
camera, DateTimeOriginal and GPS; one with EXIF orientation 6 as a portrait shot) and cached in
``bench/results/photos/``. A supervisor appointed through the API files reports with all three photos, at
each concurrency level with a FRESH server process, so its peak RSS (VmHWM) belongs to that level alone.

While the uploads run, a probe measures what other users see: a resident's ``GET /api/v1/me`` (a read) and
``PUT /api/v1/motions/{id}/ballot`` (a write) every 0.5 s. Goal (issue 8): peak RSS must not grow with
concurrency × file size; reports/s and p99 are reported. ``--malloc-arena-max N`` runs the server with
``MALLOC_ARENA_MAX=N`` (as ``scripts/serve.sh`` and the Dockerfile do with 2); ``--malloc-arena-max 0``
runs it without the variable, to show how much of the peak is glibc's per-thread arenas.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench.common import (
    API,
    RESULTS,
    Server,
    api,
    bearer,
    database_url,
    db_kind,
    goal,
    load_note,
    login,
    mint_token,
    open_motion,
    print_table,
    summarize_ms,
    write_json,
)
from bench.generate import ensure_dataset

W, H = 4032, 3024
TARGET = 4_000_000
PHOTO_DIR = RESULTS / "photos"
SUP_PASSWORD = "bench-supervisor-1!"


def _photo(seed: int, orientation: int) -> bytes:
    """A noisy 12-megapixel JPEG of about 4 MB with phone EXIF (camera, time, GPS)."""
    base = Image.linear_gradient("L").resize((W, H))
    rad = Image.radial_gradient("L").resize((W, H))
    chans = [Image.blend(g, Image.effect_noise((W, H), 28 + 2 * seed), 0.5)
             for g in (base, rad, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
    img = Image.merge("RGB", chans)
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI"
    exif[0x0110] = "P60 Pro"
    exif[0x0112] = orientation
    exif[0x8769] = {0x9003: f"2026:11:2{seed} 10:1{seed}:00", 0x9011: "+08:00"}
    exif[0x8825] = {1: "N", 2: (36.0, 6.0, 15.12 + seed), 3: "E", 4: (120.0, 22.0, 30.5 + seed)}
    lo, hi, best = 70, 97, b""
    while lo <= hi:  # the JPEG quality that lands closest to ~4 MB from below
        q = (lo + hi) // 2
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, exif=exif.tobytes())
        data = buf.getvalue()
        if len(data) <= TARGET * 1.08:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best


def photos() -> list[bytes]:
    PHOTO_DIR.mkdir(parents=True, exist_ok=True)
    out = []
    for i, orientation in enumerate((1, 6, 1)):
        p = PHOTO_DIR / f"phone_{i + 1}.jpg"
        if not p.exists():
            p.write_bytes(_photo(i + 1, orientation))
        out.append(p.read_bytes())
    return out


async def level(concurrency: int, reports: int, setup: dict[str, Any], images: list[bytes],
                env: dict[str, str]) -> dict[str, Any]:
    server = Server(database_url(), env=env).start()
    try:
        base_rss = server.rss_mb()
        sup = login(server.base_url, setup["sup_username"], SUP_PASSWORD)
        files = [("photos", (f"IMG_2026112{i}_101500.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
        fields = {"catalog_item": "外墙保温", "severity": "major", "description": "3号楼东侧外墙保温层空鼓、局部脱落",
                  "gps_lat": "36.104167", "gps_lon": "120.375139"}
        latencies: list[float] = []
        errors: dict[str, int] = {}
        probe: dict[str, list[float]] = {"read": [], "write": []}
        done = asyncio.Event()
        limits = httpx.Limits(max_connections=concurrency + 4, keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=900, limits=limits) as client:
            todo = list(range(reports))

            async def worker() -> None:
                while todo:
                    todo.pop()
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(f"{API}/projects/{setup['project_id']}/reports", headers=sup,
                                              data=fields, files=files)
                        err = "" if r.status_code == 201 else f"{r.status_code} {r.text[:150]}"
                    except httpx.HTTPError as exc:
                        err = type(exc).__name__
                    if err:
                        errors[err] = errors.get(err, 0) + 1
                    else:
                        latencies.append(time.perf_counter() - t0)

            async def prober() -> None:
                res = setup["residents"]
                i = 0
                while not done.is_set():
                    h = res[i % len(res)]
                    for kind, call in (("read", lambda h=h: client.get(API + "/me", headers=h)),
                                       ("write", lambda h=h: client.put(f"{API}/motions/{setup['motion_id']}/ballot",
                                                                        headers=h, json={"choice": "agree"}))):
                        t0 = time.perf_counter()
                        try:
                            r = await call()
                            err = "" if r.status_code == 200 else f"probe {kind} {r.status_code}"
                        except httpx.HTTPError as exc:
                            err = f"probe {kind} {type(exc).__name__}"
                        if err:
                            errors[err] = errors.get(err, 0) + 1
                        else:
                            probe[kind].append(time.perf_counter() - t0)
                    i += 1
                    try:
                        await asyncio.wait_for(done.wait(), 0.5)
                    except TimeoutError:
                        pass

            t0 = time.perf_counter()
            probe_task = asyncio.create_task(prober())
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - t0
            done.set()
            await probe_task
        s = summarize_ms(latencies)
        return {"concurrency": concurrency, "reports": len(latencies), "errors": sum(errors.values()),
                "MB uploaded": round(len(latencies) * sum(map(len, images)) / 1e6), "seconds": round(wall, 1),
                "reports/s": round(len(latencies) / wall, 2), "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"],
                "RSS idle MB": base_rss, "peak RSS MB": server.peak_rss_mb(),
                "probe GET /me p50/max ms": f"{summarize_ms(probe['read'])['p50_ms']:.0f}/"
                                            f"{max(probe['read'] or [0]) * 1000:.0f}",
                "probe PUT ballot p50/max ms": f"{summarize_ms(probe['write'])['p50_ms']:.0f}/"
                                               f"{max(probe['write'] or [0]) * 1000:.0f}",
                "_errors": errors}
    finally:
        server.stop()


async def bench(levels: list[int], reports: int, env: dict[str, str]) -> dict[str, Any]:
    images = photos()
    data = await ensure_dataset()
    com = data["communities"][0]
    with Server(database_url()) as server, httpx.Client(base_url=server.base_url, timeout=60) as c:
        staff = login(server.base_url, com["staff_username"], data["staff_password"])
        motion = open_motion(c, staff, com["id"], "照片基准探针")
        project = api(c, "POST", f"/communities/{com['id']}/projects", 201, headers=staff,
                      json={"title": "照片上报基准"})
        username = f"bench-sup-{project['id'][-8:]}"
        api(c, "POST", f"/projects/{project['id']}/supervisors", 201, headers=staff,
            json={"name": "基准监督员", "phone": "13912345678", "username": username, "password": SUP_PASSWORD,
                  "source": "deputy"})
    setup = {"project_id": project["id"], "motion_id": motion["motion_id"], "sup_username": username,
             "residents": [bearer(mint_token(r["user_id"])) for r in com["residents"][:50]]}
    rows = []
    for n in levels:
        row = await level(n, reports if n > 1 else max(3, reports // 4), setup, images, env)
        print(f"  {n} concurrent: {row['reports']} reports, peak RSS {row['peak RSS MB']} MB")
        rows.append(row)
    kind = db_kind()
    show = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    variant = "; server env " + (str(env) if env else "without MALLOC_ARENA_MAX")
    print_table(f"photo reports ({kind}{variant}; 3 photos of {', '.join(f'{len(i) / 1e6:.1f}' for i in images)} MB, "
                f"{W}×{H}; {load_note()})", show)
    lo, hi = rows[0], rows[-1]
    grows = hi["peak RSS MB"] - lo["peak RSS MB"]
    # what growing with concurrency × file size would mean: every in-flight upload's 12 MB held, decoded
    naive = (hi["concurrency"] - lo["concurrency"]) * 3 * W * H * 3 / 1e6
    goals = {"errors == 0": goal(all(r["errors"] == 0 for r in rows)),
             "peak RSS flat in concurrency": goal(grows < 0.25 * naive)
             + f" (+{grows:.0f} MB from {lo['concurrency']} to {hi['concurrency']} concurrent; "
               f"decoding every in-flight photo would be +{naive:.0f} MB)"}
    print_table("goals", [goals])
    for r in rows:
        if r["_errors"]:
            print(f"errors at {r['concurrency']}: {r['_errors']}")
    return {"levels": levels, "reports": reports, "server_env": env,
            "photo_bytes": [len(i) for i in images], "rows": rows,
            "goals": goals}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="1,5,20")
    p.add_argument("--reports", type=int, default=20, help="reports per level (a quarter of that at level 1)")
    p.add_argument("--malloc-arena-max", type=int, default=2,
                   help="the server's MALLOC_ARENA_MAX (glibc arenas of the image worker threads); "
                        "2 as scripts/serve.sh and the Dockerfile set it, 0 = unset")
    a = p.parse_args()
    env = {"MALLOC_ARENA_MAX": str(a.malloc_arena_max)} if a.malloc_arena_max else {}
    out = asyncio.run(bench([int(x) for x in a.levels.split(",")], a.reports, env))
    write_json(f"photos_{db_kind()}" + ("" if a.malloc_arena_max == 2 else f"_arena{a.malloc_arena_max}"), out)


if __name__ == "__main__":
    Path(RESULTS).mkdir(parents=True, exist_ok=True)
    main()
