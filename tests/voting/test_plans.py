"""Plans: items with catalog references, scope and budget, funding sources, exact totals, versions."""

from __future__ import annotations

from tests.projects.helpers import other_community
from tests.voting.helpers import API, make_plan, make_project, plan_body, unit_ids


async def test_plan_totals_are_exact(client, world) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    assert plan["version"] == 1 and plan["status"] == "current" and plan["supersedes"] is None
    roof, sewer = plan["items"]
    assert roof["catalog"] == "qingdao" and roof["catalog_seq"] == 1 and roof["scope"] == "community"
    assert roof["residents_share_fen"] == 30_000_00  # from its `residents` funding source
    assert roof["funded_fen"] == 120_000_00
    assert sewer["residents_share_fen"] == 10_000_00 and sewer["funded_fen"] == 60_000_00
    t = plan["totals"]
    assert t["budget_fen"] == 200_000_01 == plan["total_budget_fen"]
    assert t["residents_share_fen"] == 40_000_00 == plan["residents_share_fen"]
    assert t["funded_fen"] == 120_000_00 + 60_000_00 + 5_000_00
    assert t["unfunded_fen"] == 200_000_01 - 185_000_00
    assert t["by_source"] == {"central_subsidy": 60_000_00, "provincial_subsidy": 0, "city_subsidy": 0,
                              "district_subsidy": 30_000_00, "utility": 50_000_00, "residents": 40_000_00,
                              "original_owner_unit": 0, "social_capital": 5_000_00}
    assert plan["funding"] == [{"source": "social_capital", "amount_fen": 5_000_00}]
    r = await client.get(f"{API}/plans/{plan['id']}", headers=world.staff)
    assert r.status_code == 200 and r.json() == plan


async def test_plan_items_scoped_to_buildings_and_units(client, world) -> None:
    pid = await make_project(client, world)
    ids = await unit_ids(client, world.residents[0].headers)
    building_id, unit_id = ids[world.residents[0].household_id]
    items = [
        {"title": "1号楼加装电梯", "scope": "unit", "unit_id": unit_id, "budget_fen": 50_000_000,
         "funding": [{"source": "provincial_subsidy", "amount_fen": 20_000_000},
                     {"source": "residents", "amount_fen": 30_000_000}]},
        {"title": "2号楼外墙保温", "scope": "building", "building": "2", "budget_fen": 1_000},
        {"title": "1-2单元楼道灯", "scope": "unit", "building": "1", "unit": "2", "budget_fen": 500},
    ]
    plan = await make_plan(client, world, pid, items=items, funding=[])
    elevator, wall, lights = plan["items"]
    assert (elevator["scope"], elevator["building_id"], elevator["unit_id"]) == ("unit", building_id, unit_id)
    assert wall["scope"] == "building" and wall["building_id"] and wall["unit_id"] is None
    assert lights["unit_id"] and lights["unit_id"] != unit_id and lights["building_id"] == building_id
    assert plan["residents_share_fen"] == 30_000_000 and plan["total_budget_fen"] == 50_001_500
    # a catalog reference alone takes the catalog's title
    r = await client.post(f"{API}/plans/{plan['id']}/revisions", headers=world.staff,
                          json={"title": "修订", "items": [{"catalog": "qingdao", "catalog_seq": 1, "budget_fen": 9}]})
    assert r.status_code == 201 and r.json()["items"][0]["title"] == "拆除违法建设"


async def test_invalid_plans_list_every_problem(client, world) -> None:
    pid = await make_project(client, world)
    items = [
        {"title": "超额", "budget_fen": 100, "funding": [{"source": "city_subsidy", "amount_fen": 101}]},
        {"title": "份额不符", "budget_fen": 100, "residents_share_fen": 50,
         "funding": [{"source": "residents", "amount_fen": 40}]},
        {"title": "不存在的楼", "scope": "building", "building_id": "x" * 32, "budget_fen": 1},
        {"title": "只有序号", "catalog_seq": 3, "budget_fen": 1},
        {"title": "范围多余", "scope": "community", "unit_id": "y" * 32, "budget_fen": 1},
        {"catalog": "qingdao", "catalog_seq": 99, "budget_fen": 1},
        {"budget_fen": 1},
    ]
    r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff,
                          json=plan_body(items=items, funding=[{"source": "utility", "amount_fen": 10_000}]))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "plan.invalid"
    locs = [tuple(e["loc"]) for e in body["errors"]]
    assert ("body", "items", 0, "funding") in locs
    assert ("body", "items", 1, "residents_share_fen") in locs
    assert ("body", "items", 2, "building_id") in locs
    assert ("body", "items", 3, "catalog_seq") in locs
    assert ("body", "items", 4) in locs
    assert ("body", "items", 5, "catalog_seq") in locs  # the Qingdao catalog has 27 items
    assert ("body", "items", 6, "title") in locs
    assert ("body", "funding") in locs  # the whole plan is over-funded too
    # bad shapes are refused by the schema (never a 500)
    for bad in ({"items": []}, {"items": [{"title": "x", "budget_fen": -1}]},
                {"items": [{"title": "x", "budget_fen": 10**20}]},
                {"items": [{"title": "x", "budget_fen": 1}] * 201},
                {"items": [{"title": "x", "budget_fen": 1, "funding": [{"source": "lottery", "amount_fen": 1}]}]}):
        r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff, json=plan_body(**bad))
        assert r.status_code == 422, (bad, r.text)
    r = await client.get(f"{API}/projects/{pid}/plans", headers=world.staff)
    assert r.json()["items"] == []


async def test_revisions_keep_old_versions_readable(client, world) -> None:
    pid = await make_project(client, world)
    v1 = await make_plan(client, world, pid)
    # a second "first" plan is refused: revise instead
    r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff, json=plan_body())
    assert r.status_code == 409 and r.json()["code"] == "plan.exists"
    r = await client.post(f"{API}/plans/{v1['id']}/revisions", headers=world.staff,
                          json={"title": "改造方案（修订）", "items": [{"title": "屋面防水", "budget_fen": 99}]})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["supersedes"] == v1["id"] and v2["status"] == "current"
    old = (await client.get(f"{API}/plans/{v1['id']}", headers=world.staff)).json()
    assert old["status"] == "superseded" and old["superseded_by"] == v2["id"] and old["superseded_at"]
    assert old["items"] == v1["items"] and old["totals"] == v1["totals"]
    # revising a superseded version is refused; POST plans with `supersedes` is the other way to revise
    r = await client.post(f"{API}/plans/{v1['id']}/revisions", headers=world.staff,
                          json={"title": "x", "items": [{"title": "x", "budget_fen": 1}]})
    assert r.status_code == 409 and r.json()["code"] == "plan.superseded"
    r = await client.post(f"{API}/projects/{pid}/plans", headers=world.staff,
                          json=plan_body(title="第三版", supersedes=v2["id"]))
    assert r.status_code == 201 and r.json()["version"] == 3
    r = await client.get(f"{API}/projects/{pid}/plans", headers=world.residents[0].headers, params={"limit": 2})
    assert r.status_code == 200
    page = r.json()
    assert [(p["version"], p["status"]) for p in page["items"]] == [(1, "superseded"), (2, "superseded")]
    r = await client.get(f"{API}/projects/{pid}/plans", headers=world.staff,
                         params={"limit": 2, "cursor": page["next_cursor"]})
    assert [(p["version"], p["status"]) for p in r.json()["items"]] == [(3, "current")]
    assert r.json()["next_cursor"] is None


async def test_plan_access(client, world) -> None:
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    resident = world.residents[0].headers
    r = await client.get(f"{API}/plans/{plan['id']}", headers=resident)
    assert r.status_code == 200 and r.json()["totals"]["budget_fen"] == 200_000_01
    r = await client.post(f"{API}/projects/{pid}/plans", headers=resident, json=plan_body())
    assert r.status_code == 403
    r = await client.post(f"{API}/plans/{plan['id']}/revisions", headers=resident,
                          json={"title": "x", "items": [{"title": "x", "budget_fen": 1}]})
    assert r.status_code == 403
    _, other_staff, other_resident = await other_community(client, world)
    for h in (other_staff, other_resident):
        assert (await client.get(f"{API}/plans/{plan['id']}", headers=h)).status_code == 404
        assert (await client.get(f"{API}/projects/{pid}/plans", headers=h)).status_code == 404
    assert (await client.get(f"{API}/plans/{plan['id']}")).status_code == 401
    assert (await client.get(f"{API}/plans/nope", headers=world.staff)).json()["code"] == "plan.not_found"
