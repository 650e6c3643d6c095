"""How items' residents' shares fall on households: exact sums in fen by area, equally and among those who opt
in, what the funding view shows, and what a resident sees (their own household only)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from tests.funding.helpers import (
    API,
    ROOF_SHARE,
    WINDOWS_SHARE,
    all_households,
    get_funding,
    item_id,
    line,
    pledge,
    setup_plan,
    shares_of,
)


def centi(area_m2: str) -> int:
    return int(Decimal(area_m2) * 100)


async def test_shares_sum_exactly_and_each_is_within_a_fen_of_its_area_share(client, world) -> None:
    _, plan = await setup_plan(client, world)
    view = await get_funding(client, world.staff, plan["id"])
    # only items with a residents' share are lines; the sewer (utility-funded) is not
    assert [i["title"] for i in view["items"]] == ["屋面防水", "门窗更换"]
    roof = line(view, "屋面防水")
    assert roof["residents_share_fen"] == ROOF_SHARE and roof["split"] == "by_area"
    # stored with the plan version (voting's plan listener), with the profile's defaults
    assert roof["status"] == "funding" and roof["funded_when"] == "collected" and roof["line_id"]
    assert roof["budget_fen"] == 100_000_01 and roof["short_fen"] == ROOF_SHARE and roof["households"] == 12
    assert {s["source"]: s["amount_fen"] for s in roof["sources"]} == {"provincial_subsidy": 30_000_00,
                                                                       "residents": ROOF_SHARE}
    rows = await all_households(client, world.staff, plan["id"])
    assert len(rows) == 12 and [r["household_id"] for r in rows] == sorted(r["household_id"] for r in rows)
    shares = shares_of(rows, "屋面防水")
    areas = {r["household_id"]: centi(r["area_m2"]) for r in rows}
    assert len(shares) == 12 and sum(shares.values()) == ROOF_SHARE  # not a fen more or less
    total_area = sum(areas.values())
    for hid, share in shares.items():
        assert share is not None and abs(share - Fraction(ROOF_SHARE * areas[hid], total_area)) < 1
    # the largest household (2-2-101, 120.10 m²) pays the most, the smallest (2-2-102, 45.00 m²) the least
    biggest, smallest = world.household("2", "2", "101")["id"], world.household("2", "2", "102")["id"]
    assert shares[biggest] == max(shares.values()) and shares[smallest] == min(shares.values())


async def test_equal_and_opted_in_splits(client, world) -> None:
    _, plan = await setup_plan(client, world)
    roof, windows = item_id(plan, "屋面防水"), item_id(plan, "门窗更换")
    r = await client.put(f"{API}/plans/{plan['id']}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": roof, "split": "equal"}, {"item_id": windows, "split": "opted_in"}]})
    assert r.status_code == 200, r.text
    assert line(r.json(), "屋面防水")["split"] == "equal" and line(r.json(), "门窗更换")["line_id"]
    rows = await all_households(client, world.staff, plan["id"])
    equal = shares_of(rows, "屋面防水")
    assert sum(equal.values()) == ROOF_SHARE and max(equal.values()) - min(equal.values()) == 1  # type: ignore[operator]
    # windows: building 1 only (6 households), and nobody has opted in yet: no share to anyone
    opted = shares_of(rows, "门窗更换")
    assert len(opted) == 6 and set(opted.values()) == {None}
    assert all(world.household("1", u, room)["id"] in opted for u in ("1", "2") for room in ("101", "102", "201"))
    # three residents of building 1 opt in by pledging (their default amount: their share counting them in)
    first = await pledge(client, world.residents[0].headers, plan["id"], [{"item_id": windows}])
    assert first.status_code == 200, first.text
    (mine,) = [i for i in first.json()["items"] if i["title"] == "门窗更换"]
    assert mine["share_fen"] == WINDOWS_SHARE and mine["pledged_fen"] == WINDOWS_SHARE and mine["opted_in"]
    for res in world.residents[1:3]:
        assert (await pledge(client, res.headers, plan["id"], [{"item_id": windows}])).status_code == 200
    rows = await all_households(client, world.staff, plan["id"], limit=200)
    opted = shares_of(rows, "门窗更换")
    paying = {h: s for h, s in opted.items() if s}
    assert set(paying) == {res.household_id for res in world.residents[:3]}
    assert sum(paying.values()) == WINDOWS_SHARE == 3 * 4_000_00
    # the split of an item households pledged for is fixed
    r = await client.put(f"{API}/plans/{plan['id']}/funding/split", headers=world.staff,
                         json={"items": [{"item_id": windows, "split": "by_area"}]})
    assert r.status_code == 409 and r.json()["code"] == "funding.split_locked"
    # unknown item, an item listed twice, an unknown rule: 422
    for items in ([{"item_id": "nope", "split": "equal"}],
                  [{"item_id": roof, "split": "equal"}, {"item_id": roof, "split": "equal"}],
                  [{"item_id": roof, "split": "by_weight"}]):
        r = await client.put(f"{API}/plans/{plan['id']}/funding/split", headers=world.staff, json={"items": items})
        assert r.status_code == 422, r.text
    # residents do not set splits
    r = await client.put(f"{API}/plans/{plan['id']}/funding/split", headers=world.residents[0].headers,
                         json={"items": [{"item_id": roof, "split": "equal"}]})
    assert r.status_code == 403


async def test_a_resident_sees_only_their_own_household(client, world) -> None:
    _, plan = await setup_plan(client, world)
    roof = item_id(plan, "屋面防水")
    me, other = world.residents[0], world.residents[1]
    assert (await pledge(client, other.headers, plan["id"], [{"item_id": roof, "amount_fen": 5_000_00}])).status_code == 200
    r = await pledge(client, me.headers, plan["id"], [{"item_id": roof}])
    assert r.status_code == 200, r.text
    view = await get_funding(client, me.headers, plan["id"])
    (mine,) = view["households"]
    assert mine["household_id"] == me.household_id
    roof_line = next(i for i in mine["items"] if i["title"] == "屋面防水")
    staff_rows = await all_households(client, world.staff, plan["id"], limit=200)
    assert roof_line["share_fen"] == shares_of(staff_rows, "屋面防水")[me.household_id]
    assert roof_line["pledged_fen"] == roof_line["share_fen"] and roof_line["pledge_channel"] == "online"
    # totals are public; no other household's id, share or pledge is in what the resident is served
    assert line(view, "屋面防水")["pledged_fen"] == 5_000_00 + roof_line["share_fen"]
    text = r.text + str(view)
    for h in world.households:
        if h["id"] != me.household_id:
            assert h["id"] not in text
    # staff are served no households in the view (they have the households page), residents not that page
    assert (await get_funding(client, world.staff, plan["id"]))["households"] == []
    r = await client.get(f"{API}/plans/{plan['id']}/funding/households", headers=me.headers)
    assert r.status_code == 403
    r = await client.get(f"{API}/plans/{plan['id']}/funding/ledger.xlsx", headers=me.headers)
    assert r.status_code == 403
