"""Synthetic city: N communities × M households (default 50 × 2,000 = 100,000), built by bulk SQL.

    python -m bench.generate [--communities 50] [--households 2000] [--residents 2000] [--resident-communities 4]

Realistic exclusive areas (45–150 m², two decimals) and ~4% of owners holding two or three units.
Residents (users bound as owners) are created for the first ``--resident-communities`` communities so the
load benchmark can mint real tokens for them; a staff user exists for every community.

Schema: ``python -m app migrate`` (Alembic). ``BENCH_CREATE_ALL=1`` builds it with ``metadata.create_all``
instead — a development aid for while the migrations of a new domain are not generated yet.

The other benchmarks call :func:`ensure_dataset` (which runs this generator when ``dataset_<db>.json`` does
not belong to the current database) and :func:`add_community` / :func:`add_jurisdiction` for the extra data they
need (a 100,000-household community for the tally, a Linyi jurisdiction for the survey), recorded under
``extras`` in ``dataset_<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, inspect, text

import app.models  # noqa: F401  (every table registered in the metadata)
from app.auth.models import HouseholdMember, RoleGrant, User
from app.core.db import Database, metadata, new_id
from app.core.security import hash_password
from app.register.models import Building, Community, Household, Jurisdiction, RulesProfileVersion, Unit
from app.register.profiles import preset_profile
from bench.common import (
    RESULTS,
    ROOT,
    app_settings,
    bench_env,
    create_all_mode,
    database_url,
    db_kind,
    ensure_database,
    print_table,
    sqlite_analyze,
    write_json,
)

STAFF_PASSWORD = "bench-staff-pass-1!"
CHUNK = 2000


async def prepare_schema(url: str) -> None:
    """Alembic upgrade head, or (BENCH_CREATE_ALL=1) metadata.create_all. A benchmark database built the
    other way before (tables but no / an Alembic version table) is dropped and rebuilt — it only ever holds
    generated data (ensure_database refuses anything but a *bench* database)."""
    await ensure_database(url)
    db = Database(app_settings(url))
    try:
        async with db.writer.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        has_alembic = "alembic_version" in names
        if names - {"alembic_version"} and has_alembic == create_all_mode():
            print("rebuilding the benchmark schema (it was built the other way: Alembic vs create_all)")
            async with db.writer.begin() as conn:
                await conn.run_sync(metadata.drop_all)
                await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if create_all_mode():
            async with db.writer.begin() as conn:
                await conn.run_sync(metadata.create_all)
            return
    finally:
        await db.dispose()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "app", "migrate", cwd=ROOT,
                                                env=bench_env(url), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"migration failed (BENCH_CREATE_ALL=1 builds the schema from the models):\n"
                         f"{err.decode(errors='replace')[-3000:]}")


async def _wipe(db: Database) -> None:
    async with db.writer.begin() as conn:
        if db.is_sqlite:
            for t in reversed(metadata.sorted_tables):
                await conn.execute(text(f'DELETE FROM "{t.name}"'))
        else:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} CASCADE"))


async def add_jurisdiction(conn: Any, *, name: str, preset: str, now: datetime,
                           overrides: dict[str, Any] | None = None) -> str:
    """A jurisdiction with version 1 of a preset rules profile (fields in ``overrides`` replaced)."""
    jid = new_id()
    profile = preset_profile(name=preset).model_dump(mode="json") | (overrides or {})
    await conn.execute(insert(Jurisdiction), [{"id": jid, "name": name, "code": f"bench-{jid[-8:]}",
                                               "profile_version": 1, "created_at": now}])
    await conn.execute(insert(RulesProfileVersion), [{"id": new_id(), "jurisdiction_id": jid, "version": 1,
                                                      "data": profile, "created_at": now}])
    return jid


async def add_community(conn: Any, *, jurisdiction_id: str, name: str, households: int, residents: int,
                        staff_username: str, staff_hash: str, rnd: random.Random, now: datetime,
                        built: date = date(1992, 6, 1), per_unit: int = 100) -> dict[str, Any]:
    """One community by bulk SQL: buildings of 2 units × ``per_unit`` households, ~4% of owners with several
    units, a staff user, and ``residents`` activated owners (one user per household, the first ones).

    Returns {id, staff_username, staff_user_id, households, household_ids, residents: [{user_id,
    household_id}]}."""
    cid = new_id()
    await conn.execute(insert(Community), [{"id": cid, "jurisdiction_id": jurisdiction_id, "name": name,
                                            "address": None, "built_date": built, "created_at": now}])
    buildings, units, rows = [], [], []
    n_units = max(1, -(-households // per_unit))
    unit_ids = []
    bid = ""
    for ui in range(n_units):
        if ui % 2 == 0:
            bid = new_id()
            buildings.append({"id": bid, "community_id": cid, "name": f"{ui // 2 + 1}号楼"})
        uid = new_id()
        units.append({"id": uid, "community_id": cid, "building_id": bid, "name": f"{ui % 2 + 1}单元"})
        unit_ids.append((bid, uid))
    owner_pool: list[str] = []
    for hi in range(households):
        bid, uid = unit_ids[hi // per_unit]
        if owner_pool and rnd.random() < 0.04:
            owner = rnd.choice(owner_pool)  # an owner with several units
        else:
            owner = f"{cid}-o{hi}"
            owner_pool.append(owner)
        rows.append({"id": new_id(), "community_id": cid, "building_id": bid, "unit_id": uid,
                     "room": f"{(hi % per_unit) // 4 + 1}{hi % 4 + 1:02d}", "area_centi": rnd.randint(4500, 15000),
                     "owner_key": owner, "created_at": now})
    for i in range(0, len(buildings), CHUNK):
        await conn.execute(insert(Building), buildings[i:i + CHUNK])
    for i in range(0, len(units), CHUNK):
        await conn.execute(insert(Unit), units[i:i + CHUNK])
    for i in range(0, len(rows), CHUNK):
        await conn.execute(insert(Household), rows[i:i + CHUNK])
    staff_id = new_id()
    await conn.execute(insert(User), [{"id": staff_id, "username": staff_username, "password_hash": staff_hash,
                                       "name": "基准工作人员", "phone": None, "wechat_openid": None, "is_active": True,
                                       "created_at": now}])
    await conn.execute(insert(RoleGrant), [{"id": new_id(), "user_id": staff_id, "role": "staff", "scope_id": cid,
                                            "created_at": now}])
    users, members, out_res = [], [], []
    for h in rows[:residents]:
        u = new_id()
        users.append({"id": u, "username": None, "password_hash": None, "name": "居民", "phone": "13800000000",
                      "wechat_openid": None, "is_active": True, "created_at": now})
        members.append({"id": new_id(), "household_id": h["id"], "user_id": u, "relation": "owner",
                        "created_at": now})
        out_res.append({"user_id": u, "household_id": h["id"]})
    for i in range(0, len(users), CHUNK):
        await conn.execute(insert(User), users[i:i + CHUNK])
        await conn.execute(insert(HouseholdMember), members[i:i + CHUNK])
    return {"id": cid, "staff_username": staff_username, "staff_user_id": staff_id, "households": households,
            "household_ids": [h["id"] for h in rows], "residents": out_res}


async def generate(communities: int, per_community: int, residents: int, resident_communities: int = 4,
                   seed: int = 7) -> dict:
    rnd = random.Random(seed)
    url = database_url()
    await prepare_schema(url)
    db = Database(app_settings(url))
    await _wipe(db)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    staff_hash = hash_password(STAFF_PASSWORD)
    out: dict = {"database_url": url, "communities": [], "residents": [], "extras": {}}
    async with db.writer.begin() as conn:
        jid = await add_jurisdiction(conn, name="基准测试市", preset="laoshan", now=now)
        out["jurisdiction_id"] = jid
        for ci in range(communities):
            c = await add_community(conn, jurisdiction_id=jid, name=f"基准小区{ci + 1:02d}", households=per_community,
                                    residents=residents if ci < resident_communities else 0,
                                    staff_username=f"bench-staff-{ci + 1}", staff_hash=staff_hash, rnd=rnd, now=now,
                                    built=date(1985 + ci % 20, 1 + ci % 12, 1))
            c.pop("household_ids")
            if ci == 0:
                out["residents"] = c["residents"]  # the first community's residents (kept for older callers)
            out["communities"].append(c)
    elapsed = time.perf_counter() - t0
    await db.dispose()
    out["seconds"] = round(elapsed, 2)
    out["households"] = communities * per_community
    out["staff_password"] = STAFF_PASSWORD
    return out


def dataset_path() -> Path:
    """bench/results/dataset_<sqlite|postgresql>.json: what the generator built in the current database."""
    return RESULTS / f"dataset_{db_kind()}.json"


async def analyze() -> None:
    """Planner statistics after bulk loading, as the app's database would have them.

    PostgreSQL: VACUUM ANALYZE (autovacuum does it in production; stale statistics make the planner pick
    nested loops over 100k rows). SQLite: the app never runs ANALYZE / PRAGMA optimize, so by default the
    statistics are REMOVED to measure what the app does today; ``BENCH_SQLITE_ANALYZE=1`` runs ANALYZE
    instead (what ``PRAGMA optimize`` would give), and results are written with an ``_analyzed`` suffix.
    """
    url = database_url()
    db = Database(app_settings(url))
    try:
        if db_kind(url) == "postgresql":
            async with db.writer.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        else:
            async with db.writer.begin() as conn:
                if sqlite_analyze():
                    await conn.execute(text("ANALYZE"))
                else:
                    await conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
                    await conn.execute(text("DROP TABLE IF EXISTS sqlite_stat4"))
    finally:
        await db.dispose()


def save_dataset(data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    dataset_path().write_text(json.dumps(data))


async def _dataset_present(data: dict) -> bool:
    url = database_url()
    if data.get("database_url") != url:
        return False
    db = Database(app_settings(url))
    try:
        async with db.reader.connect() as conn:
            n = (await conn.execute(text("SELECT count(*) FROM jurisdiction WHERE id = :id"),
                                    {"id": data.get("jurisdiction_id", "")})).scalar()
        return bool(n)
    except Exception:  # noqa: BLE001 - no schema, no table: generate
        return False
    finally:
        await db.dispose()


async def ensure_dataset() -> dict:
    """The city dataset of the current database (its schema brought to Alembic head first); generated
    (defaults) when missing."""
    if dataset_path().exists():
        await prepare_schema(database_url())
        data = json.loads(dataset_path().read_text())
        if await _dataset_present(data):
            return data
    print("no dataset for this database yet: generating the default city (python -m bench.generate)")
    data = await generate(50, 2000, 2000)
    await analyze()
    save_dataset(data)
    return data


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--communities", type=int, default=50)
    p.add_argument("--households", type=int, default=2000, help="households per community")
    p.add_argument("--residents", type=int, default=2000, help="activated owners per resident community")
    p.add_argument("--resident-communities", type=int, default=4)
    a = p.parse_args()
    out = asyncio.run(generate(a.communities, a.households, a.residents, a.resident_communities))
    asyncio.run(analyze())
    save_dataset(out)
    n_res = sum(len(c["residents"]) for c in out["communities"])
    rows = [{"communities": a.communities, "households": out["households"], "residents with tokens": n_res,
             "seconds": out["seconds"], "goal < 60 s": "met" if out["seconds"] < 60 else "NOT met"}]
    print_table(f"dataset ({database_url().split('://')[0]})", rows)
    write_json(f"generate_{db_kind()}", {"communities": a.communities, "households": out["households"], "residents": n_res,
                            "seconds": out["seconds"]})


if __name__ == "__main__":
    main()
