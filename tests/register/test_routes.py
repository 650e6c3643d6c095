"""The register through HTTP: jurisdictions with versioned profiles, communities, imports, scoping."""

from __future__ import annotations

import io

from openpyxl import Workbook

from tests.factories import (
    HOUSEHOLD_CSV,
    add_staff,
    all_households,
    auth,
    create_community,
    import_csv,
)


async def test_presets_and_profile_versions(client, world) -> None:
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}", headers=world.admin)
    assert r.status_code == 200
    body = r.json()
    assert body["profile"]["preset"] == "laoshan"
    assert body["profile"]["willingness_rule"]["kind"] == "share_of_all_households"
    assert body["profile"]["catalog"] == "qingdao"
    assert body["profile_version"] == 1
    profile = body["profile"] | {"publicity_working_days": 7}
    r = await client.put(f"/api/v1/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=profile)
    assert r.status_code == 200 and r.json()["profile_version"] == 2
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}/profile/versions", headers=world.admin)
    assert [v["profile"]["publicity_working_days"] for v in r.json()] == [5, 7]
    bad = profile | {"willingness_rule": {"kind": "nonsense", "threshold": "2/3"}}
    r = await client.put(f"/api/v1/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin, json=bad)
    assert r.status_code == 422
    # staff may not change profiles
    r = await client.put(f"/api/v1/jurisdictions/{world.jurisdiction_id}/profile", headers=world.staff, json=profile)
    assert r.status_code in (403, 404)


async def test_all_five_presets(client, world) -> None:
    for preset, cutoff in (("zhoucun", "2005-12-31"), ("linyi", "2005-12-31"), ("anqiu", None),
                           ("zhanhe", "1999-12-31"), ("laoshan", "2005-12-31")):
        r = await client.post("/api/v1/jurisdictions", headers=world.admin, json={"name": preset, "preset": preset})
        assert r.status_code == 201, r.text
        assert r.json()["profile"]["eligibility_cutoff"] == cutoff
    r = await client.post("/api/v1/jurisdictions", headers=world.admin, json={"name": "x", "preset": "atlantis"})
    assert r.status_code == 422


async def test_community_eligibility(client, world) -> None:
    old = await create_community(client, world.admin, world.jurisdiction_id, "老小区", built="2005-12-31")
    new = await create_community(client, world.admin, world.jurisdiction_id, "新小区", built="2006-01-01")
    r1 = await client.get(f"/api/v1/communities/{old}", headers=world.admin)
    r2 = await client.get(f"/api/v1/communities/{new}", headers=world.admin)
    assert r1.json()["eligibility"]["eligible"] is True
    assert r2.json()["eligibility"]["eligible"] is False


async def test_import_counts_and_exact_area(client, world) -> None:
    hh = world.households
    assert len(hh) == 12
    assert world.household("1", "1", "102")["area_m2"] == "75.50"
    assert world.household("2", "2", "201")["area_m2"] == "99.99"
    r = await client.get(f"/api/v1/communities/{world.community_id}", headers=world.staff)
    assert r.json()["households"] == 12 and r.json()["buildings"] == 2
    activated = [h for h in await all_households(client, world.staff, world.community_id) if h["activated"]]
    assert len(activated) == 4
    assert "owner_key" not in hh[0]


async def test_import_bad_rows_all_or_nothing(client, world) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "导入测试")
    _, staff = await add_staff(client, world.admin, cid, "staff-import")
    bad = ("building,unit,room,area_m2,owner_key\n"
           "1,1,101,80.5,\n"
           "1,1,102,,\n"          # missing area (line 3)
           "1,1,103,-5,\n"        # negative (line 4)
           "1,1,104,abc,\n"       # non-numeric (line 5)
           "1,1,101,70,\n"        # duplicate room (line 6)
           "1,1,105,70.123,\n")   # three decimals (line 7)
    r = await import_csv(client, auth(staff), cid, bad)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "import.invalid_rows"
    reasons = {(e["line"], e["reason"]) for e in body["errors"]}
    assert reasons == {(3, "missing area"), (4, "negative or zero area"), (5, "non-numeric area"),
                       (6, "duplicate room"), (7, "area has more than two decimals")}
    assert await all_households(client, auth(staff), cid) == []
    r = await import_csv(client, auth(staff), cid, "building,unit,room,area_m2,colour\n1,1,101,50,red\n")
    assert r.status_code == 422 and r.json()["errors"][0]["reason"] == "unknown column"
    r = await import_csv(client, auth(staff), cid, "")
    assert r.status_code == 400 and r.json()["code"] == "import.empty"


async def test_import_duplicate_against_existing_rows(client, world) -> None:
    r = await import_csv(client, world.staff, world.community_id, "building,unit,room,area_m2\n1,1,101,50\n3,1,101,60\n")
    assert r.status_code == 422
    assert r.json()["errors"][0]["reason"] == "room already registered"
    assert len(await all_households(client, world.staff, world.community_id)) == 12


async def test_import_encodings_and_xlsx(client, world) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "编码测试")
    _, staff = await add_staff(client, world.admin, cid, "staff-enc")
    h = auth(staff)
    gb = "楼栋,单元,房号,面积\n东1,一,101,50.5\n".encode("gb18030")
    r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=h, content=gb)
    assert r.status_code == 200, r.text
    bom = "\ufeffbuilding,unit,room,area_m2\n东1,一,102,51\n".encode()
    r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=h, content=bom)
    assert r.status_code == 200, r.text
    wb = Workbook()
    ws = wb.active
    ws.append(["building", "unit", "room", "area_m2", "owner_key"])
    ws.append(["东1", "一", 103, 66.6, "K1"])
    ws.append(["东1", "一", "104", "70.00", "K1"])
    buf = io.BytesIO()
    wb.save(buf)
    r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=h,
                          files={"file": ("register.xlsx", buf.getvalue(),
                                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert r.status_code == 200, r.text
    rows = await all_households(client, h, cid)
    assert {x["room"]: x["area_m2"] for x in rows} == {"101": "50.50", "102": "51.00", "103": "66.60", "104": "70.00"}
    assert {x["building"] for x in rows} == {"东1"}
    r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=h, content=b"\xff\xfe\x00\x01garbage")
    assert r.status_code == 400 and r.json()["code"] == "import.encoding"
    r = await client.post(f"/api/v1/communities/{cid}/households:import", headers=h,
                          content=b"PK\x03\x04not-really-a-zip")
    assert r.status_code == 422 and r.json()["code"] == "import.unreadable"


async def test_import_5000_rows_in_one_request(client, world) -> None:
    cid = await create_community(client, world.admin, world.jurisdiction_id, "大小区")
    _, staff = await add_staff(client, world.admin, cid, "staff-big")
    lines = ["building,unit,room,area_m2,owner_key"]
    for i in range(5000):
        lines.append(f"{i // 500 + 1},{(i // 100) % 5 + 1},{i % 100 + 101},{60 + i % 40}.{i % 100:02d},O{i // 3}")
    r = await import_csv(client, auth(staff), cid, "\n".join(lines) + "\n")
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 5000
    assert (await client.get(f"/api/v1/communities/{cid}", headers=auth(staff))).json()["households"] == 5000


async def test_oversized_import_refused(client, world) -> None:
    big = b"building,unit,room,area_m2\n" + b"1,1,101,50\n" * 600_000
    r = await client.post(f"/api/v1/communities/{world.community_id}/households:import", headers=world.staff,
                          content=big)
    assert r.status_code == 413


async def test_other_community_is_404(client, world) -> None:
    other = await create_community(client, world.admin, world.jurisdiction_id, "别的小区")
    _, staff_b = await add_staff(client, world.admin, other, "staff-b")
    for path in (f"/api/v1/communities/{world.community_id}", f"/api/v1/communities/{world.community_id}/households"):
        r = await client.get(path, headers=auth(staff_b))
        assert r.status_code == 404, path
    r = await import_csv(client, auth(staff_b), world.community_id, HOUSEHOLD_CSV)
    assert r.status_code == 404
    # a resident of A sees the community but not the register
    res = world.residents[0]
    assert (await client.get(f"/api/v1/communities/{world.community_id}", headers=res.headers)).status_code == 200
    assert (await client.get(f"/api/v1/communities/{world.community_id}/households",
                             headers=res.headers)).status_code == 403
    assert (await client.get(f"/api/v1/communities/{other}", headers=res.headers)).status_code == 404


async def test_pagination_cursor(client, world) -> None:
    r = await client.get(f"/api/v1/communities/{world.community_id}/households", headers=world.staff,
                         params={"limit": 5})
    first = r.json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    r = await client.get(f"/api/v1/communities/{world.community_id}/households", headers=world.staff,
                         params={"limit": 5, "cursor": first["next_cursor"]})
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in r.json()["items"]}
    assert (await client.get(f"/api/v1/communities/{world.community_id}/households", headers=world.staff,
                             params={"limit": 500})).status_code == 422
    assert (await client.get(f"/api/v1/communities/{world.community_id}/households", headers=world.staff,
                             params={"cursor": "!!!"})).status_code == 400
