"""Survey results: a needs questionnaire of all 36 Linyi catalog items answered by 2,000 households.

    python -m bench.survey [--households 2000] [--repeat 15]

Two jurisdictions are added to the city dataset (once; reused later): the ``linyi`` preset (catalog linyi,
no content rule) and the same with a content rule (every item's want-count against two-thirds of all
households, as Laoshan does — the heavier case: every item is also tallied one owner one choice). In each,
a community of 2,000 households; staff create a project and a ``{"kind": "needs", "from_catalog": true}``
questionnaire through the API and open it; 20 households answer through the API (paper responses, validated
by the service) and the rest by bulk SQL in the same shape (``survey_response`` + ``survey_response_version`` +
36 ``survey_answer`` rows each — the bulk rows are checked against the API-made ones). Timed:
``GET /api/v1/questionnaires/{id}/results`` over HTTP and ``compute_results`` in-process. Goal (issue 8):
< 150 ms. With the content rule, the item tallies are checked against ``app.rules.count_electorate`` over
the stored rows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert, text

from app.core.db import Database, new_id
from app.core.security import hash_password
from app.register.profiles import ALL_TWO_THIRDS
from app.rules import Choice, Voter, count_electorate
from app.surveys import service as surveys
from app.surveys.models import SurveyAnswer, SurveyResponse, SurveyResponseVersion
from bench.common import (
    RESULTS,
    Server,
    api,
    app_settings,
    capture_sql,
    database_url,
    db_kind,
    explain_statements,
    goal,
    load_note,
    login,
    principal_for,
    print_table,
    rng,
    summarize_ms,
    timed,
    write_json,
)
from bench.generate import add_community, add_jurisdiction, analyze, ensure_dataset, save_dataset

VIA_API = 20
CHOICES = ("want", "dont_need", "no_opinion")
VARIANTS = {"linyi": None, "linyi+content_rule": dict(ALL_TWO_THIRDS)}


async def ensure_survey_communities(data: dict, households: int) -> dict[str, dict]:
    extra = data.setdefault("extras", {}).setdefault("survey", {})
    key = str(households)
    missing = [v for v in VARIANTS if f"{v}/{key}" not in extra]
    if missing:
        db = Database(app_settings())
        now = datetime.now(UTC)
        staff_hash = hash_password(data["staff_password"])
        async with db.writer.begin() as conn:
            for v in missing:
                overrides = {"content_rule": VARIANTS[v]} if VARIANTS[v] else None
                jid = await add_jurisdiction(conn, name=f"问卷测试区（{v}）", preset="linyi", now=now,
                                             overrides=overrides)
                c = await add_community(conn, jurisdiction_id=jid, name=f"问卷小区{households}户（{v}）",
                                        households=households, residents=0,
                                        staff_username=f"bench-survey-{v}-{households}", staff_hash=staff_hash,
                                        rnd=rng(households), now=now)
                extra[f"{v}/{key}"] = c
        await db.dispose()
        await analyze()
        save_dataset(data)
    return {v: extra[f"{v}/{key}"] for v in VARIANTS}


def answers_for(items: list[dict], rnd: random.Random) -> dict[str, str]:
    """A household's answer per item: item i is wanted by ~30 %–90 % of households (a realistic spread)."""
    out = {}
    n = len(items)
    for i, it in enumerate(items):
        p_want = 0.3 + 0.6 * i / max(1, n - 1)
        x = rnd.random()
        out[it["key"]] = "want" if x < p_want else ("dont_need" if x < p_want + (1 - p_want) * 0.7 else "no_opinion")
    return out


async def fill_responses(q: dict, household_ids: list[str], actor_id: str) -> float:
    """Bulk responses in the service's own shape for every household not answered through the API."""
    question = next(x for x in q["questions"] if x["type"] == "catalog_items")
    items = [it for it in question["items"] if not it["mandatory"]]
    rnd = random.Random(5)
    now = datetime.now(UTC)
    responses, versions, answers = [], [], []
    for hid in household_ids:
        value = answers_for(items, rnd)
        normalized = [{"question_id": question["id"], "value": value}]
        responses.append({"id": new_id(), "questionnaire_id": q["id"], "household_id": hid, "version": 1,
                          "channel": "online", "actor_id": actor_id, "note": None, "answers": normalized,
                          "first_at": now, "updated_at": now})
        versions.append({"id": new_id(), "questionnaire_id": q["id"], "household_id": hid, "version": 1,
                         "channel": "online", "actor_id": actor_id, "note": None, "answers": normalized, "at": now})
        answers += [{"questionnaire_id": q["id"], "household_id": hid, "question_id": question["id"], "item_key": k,
                     "choice": c, "value_int": None, "value_text": None} for k, c in value.items()]
    db = Database(app_settings())
    t0 = time.perf_counter()
    async with db.writer.begin() as conn:
        for model, rows in ((SurveyResponse, responses), (SurveyResponseVersion, versions), (SurveyAnswer, answers)):
            for i in range(0, len(rows), 2000):
                await conn.execute(insert(model), rows[i:i + 2000])
    await db.dispose()
    secs = time.perf_counter() - t0
    await analyze()
    return secs


async def check_shape(qid: str, api_hid: str, bulk_hid: str) -> None:
    """The bulk rows look exactly like the rows the service wrote (columns, item keys, empty values)."""
    db = Database(app_settings())
    async with db.reader.connect() as conn:
        q = text("SELECT question_id, item_key, choice IS NOT NULL, value_int, value_text FROM survey_answer "
                 "WHERE questionnaire_id = :q AND household_id = :h ORDER BY item_key")
        a = (await conn.execute(q, {"q": qid, "h": api_hid})).all()
        b = (await conn.execute(q, {"q": qid, "h": bulk_hid})).all()
    await db.dispose()
    if [tuple(r) for r in a] != [tuple(r) for r in b]:
        raise SystemExit(f"bulk survey rows differ from the service's:\n{a[:3]}\n{b[:3]}")


async def check_tallies(qid: str, community_id: str, res: dict) -> int:
    """Every evaluated item's owner-grouped counts equal ``count_electorate`` over the stored rows (each owner's
    smallest responding household decides for all their households); returns the items checked."""
    db = Database(app_settings())
    async with db.reader.connect() as conn:
        households = (await conn.execute(text("SELECT id, owner_key, area_centi FROM household "
                                              "WHERE community_id = :c"), {"c": community_id})).all()
        responded = {r[0] for r in (await conn.execute(text("SELECT household_id FROM survey_response "
                                                            "WHERE questionnaire_id = :q"), {"q": qid})).all()}
        answers = (await conn.execute(text("SELECT household_id, question_id, item_key, choice FROM survey_answer "
                                           "WHERE questionnaire_id = :q"), {"q": qid})).all()
    await db.dispose()
    deciding: dict[str, str] = {}
    for hid, owner, _ in sorted(households):
        if hid in responded:
            deciding.setdefault(owner, hid)
    as_ballot = {"want": Choice.AGREE, "dont_need": Choice.DISAGREE, "no_opinion": Choice.ABSTAIN}
    ballots: dict[tuple[str, str], dict[str, Choice]] = defaultdict(dict)
    reps = set(deciding.values())
    for hid, question_id, item, choice in answers:
        if hid in reps:
            ballots[(question_id, item)][hid] = as_ballot[choice]
    voters = [Voter(hid, owner, area) for hid, owner, area in households]
    checked = 0
    for x in res["questions"]:
        for it in x["items"] if x["type"] == "catalog_items" else []:
            if it["tally"] is None:
                continue
            expected = count_electorate(voters, ballots[(x["question_id"], it["key"])]).to_dict()
            got = it["tally"]["counts"]
            if {k: got[k] for k in expected} != expected:
                raise SystemExit(f"item {it['key']}: owner tally {got} != count_electorate {expected}")
            checked += 1
    return checked


async def inproc(qid: str, staff_id: str, repeat: int, variant: str) -> tuple[list[float], list[float], str]:
    """compute_results timed in-process; and the EXPLAIN of every statement it sends."""
    db = Database(app_settings())
    try:
        async with db.read_session() as s:
            staff = await principal_for(s, staff_id)
            now = datetime.now(UTC)
            t, cpu, _ = await timed(lambda: surveys.results(s, principal=staff, questionnaire_id=qid, now=now),
                                    repeat + 1)
            with capture_sql(db.reader) as stmts:
                await surveys.results(s, principal=staff, questionnaire_id=qid, now=now)
        return t[1:], cpu[1:], await explain_statements(db, f"survey results ({variant})", stmts)
    finally:
        await db.dispose()


async def bench(households: int, repeat: int) -> dict[str, Any]:
    data = await ensure_dataset()
    comms = await ensure_survey_communities(data, households)
    rows: list[dict[str, Any]] = []
    detail: dict[str, Any] = {}
    explains: list[str] = []
    for variant, com in comms.items():
        db = Database(app_settings())
        async with db.reader.connect() as conn:
            hids = [r[0] for r in (await conn.execute(text("SELECT id FROM household WHERE community_id = :c "
                                                           "ORDER BY id"), {"c": com["id"]})).all()]
        await db.dispose()
        with Server(database_url()) as server, httpx.Client(base_url=server.base_url, timeout=120) as c:
            staff = login(server.base_url, com["staff_username"], data["staff_password"])
            project = api(c, "POST", f"/communities/{com['id']}/projects", 201, headers=staff,
                          json={"title": f"需求征询基准（{variant}）"})
            q = api(c, "POST", f"/projects/{project['id']}/questionnaires", 201, headers=staff,
                    json={"kind": "needs", "from_catalog": True, "title": "改造需求征询"})
            q = api(c, "POST", f"/questionnaires/{q['id']}/open", 200, headers=staff)
            question = next(x for x in q["questions"] if x["type"] == "catalog_items")
            items = [it for it in question["items"] if not it["mandatory"]]
            rnd = random.Random(9)
            for hid in hids[:VIA_API]:
                api(c, "POST", f"/questionnaires/{q['id']}/paper-responses", 201, headers=staff,
                    json={"household_id": hid, "note": "入户问卷（基准）",
                          "answers": [{"question_id": question["id"], "value": answers_for(items, rnd)}]})
            secs = await fill_responses(q, hids[VIA_API:], com["staff_user_id"])
            await check_shape(q["id"], hids[0], hids[VIA_API])
            print(f"{variant}: {len(hids) - VIA_API} responses × {len(items)} items inserted in {secs:.1f} s")
            api(c, "GET", f"/questionnaires/{q['id']}/results", 200, headers=staff)  # warm-up
            http = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                res = api(c, "GET", f"/questionnaires/{q['id']}/results", 200, headers=staff)
                http.append(time.perf_counter() - t0)
            rss = server.rss_mb()
        if VARIANTS[variant]:
            print(f"{variant}: {await check_tallies(q['id'], com['id'], res)} item tallies = count_electorate")
        ip, ip_cpu, explained = await inproc(q["id"], com["staff_user_id"], repeat, variant)
        explains.append(explained)
        cat = next(x for x in res["questions"] if x["type"] == "catalog_items")
        s = summarize_ms(http)
        rows.append({"variant": variant, "households": len(hids), "items": len(cat["items"]),
                     "responded": res["participation"]["households"]["count"],
                     "GET results p50 ms": s["p50_ms"], "p95 ms": s["p95_ms"],
                     "compute_results (in-process) ms": round(statistics.median(ip) * 1000, 1),
                     "CPU ms": round(statistics.median(ip_cpu) * 1000, 1),
                     "server RSS MB": rss})
        detail[variant] = {"questionnaire_id": q["id"], "http_ms": s,
                           "inproc_ms": [round(x * 1000, 1) for x in ip],
                           "first_items": [{k: it[k] for k in ("key", "want", "dont_need", "no_opinion", "status")}
                                           for it in cat["items"][:3]]}
    path = RESULTS / f"explain_survey_{db_kind()}.txt"
    path.write_text(f"# {db_kind()}, {households} households × 36 items\n\n" + "\n".join(explains))
    print(f"wrote {path}")
    worst = max(max(r["GET results p50 ms"], r["compute_results (in-process) ms"]) for r in rows)
    goals = {"results < 150 ms": goal(worst < 150) + f" (worst median {worst} ms)"}
    print_table(f"survey results ({db_kind()}; {load_note()})", rows)
    print_table("goals", [goals])
    return {"households": households, "repeat": repeat, "rows": rows, "detail": detail, "goals": goals}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=15)
    a = p.parse_args()
    out = asyncio.run(bench(a.households, a.repeat))
    write_json(f"survey_{db_kind()}", out)


if __name__ == "__main__":
    main()
