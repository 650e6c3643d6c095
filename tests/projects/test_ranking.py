"""The street office's ranking: eligible communities by willingness, participation, contribution (exact)."""

from __future__ import annotations

from app.projects.gates import PROVIDERS, ContributionFigures, Ratio, WillingnessFigures
from tests.factories import create_community


async def _community_with_project(client, world, name: str, built: str = "1998-06-01") -> tuple[str, str]:
    cid = await create_community(client, world.admin, world.jurisdiction_id, name, built=built)
    r = await client.post(f"/api/v1/communities/{cid}/projects", headers=world.admin, json={"title": f"{name}改造"})
    assert r.status_code == 201, r.text
    return cid, r.json()["id"]


async def test_ranking_orders_by_exact_shares(client, world, monkeypatch, clock) -> None:
    figures: dict[str, tuple[WillingnessFigures, ContributionFigures]] = {}
    a_cid, a = await _community_with_project(client, world, "甲小区")
    b_cid, b = await _community_with_project(client, world, "乙小区")
    c_cid, c = await _community_with_project(client, world, "丙小区")
    d_cid, d = await _community_with_project(client, world, "丁小区")
    e_cid = await create_community(client, world.admin, world.jurisdiction_id, "戊小区")  # no project at all
    f_cid = await create_community(client, world.admin, world.jurisdiction_id, "新小区", built="2010-01-01")
    # the world's own community has a project but no survey data yet
    r = await client.post(f"/api/v1/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": "幸福里改造"})
    w = r.json()["id"]
    # willingness ties (8/12 = 16/24 = 2/3) fall through to participation, then contribution
    figures[a] = (WillingnessFigures(Ratio(8, 12), Ratio(10, 12)), ContributionFigures(Ratio(1, 3)))
    figures[b] = (WillingnessFigures(Ratio(16, 24), Ratio(22, 24)), ContributionFigures(Ratio(1, 4)))
    figures[c] = (WillingnessFigures(Ratio(2, 3), Ratio(11, 12)), ContributionFigures(Ratio(30000, 60000)))
    # highest willingness wins whatever the rest
    figures[d] = (WillingnessFigures(Ratio(9, 12), Ratio(9, 12)), ContributionFigures(Ratio(0, 100)))
    figures[w] = (WillingnessFigures(Ratio(0, 0), Ratio(0, 0)), ContributionFigures())

    async def survey_figures(session, *, project_id: str, now=None) -> WillingnessFigures:
        return figures.get(project_id, (WillingnessFigures(), ContributionFigures()))[0]

    async def voting_figures(session, *, project_id: str) -> ContributionFigures:
        return figures.get(project_id, (WillingnessFigures(), ContributionFigures()))[1]

    monkeypatch.setattr(PROVIDERS, "willingness", survey_figures)
    monkeypatch.setattr(PROVIDERS, "contribution", voting_figures)
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}/ranking", headers=world.admin)
    assert r.status_code == 200, r.text
    body = r.json()
    order = [i["community_id"] for i in body["items"]]
    assert order[:4] == [d_cid, c_cid, b_cid, a_cid]
    assert set(order[4:]) == {e_cid, world.community_id}
    assert all(i["has_data"] is False for i in body["items"][4:])
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5, 6]
    top = body["items"][0]
    assert top["willingness"] == {"numerator": 9, "denominator": 12, "share": "3/4", "percent": "75.00"}
    assert body["items"][1]["contribution"] == {"numerator": 30000, "denominator": 60000, "share": "1/2",
                                                "percent": "50.00"}
    assert body["items"][3]["willingness"]["share"] == "2/3" and body["items"][3]["willingness"]["percent"] == "66.67"
    no_data = next(i for i in body["items"] if i["community_id"] == world.community_id)
    assert no_data["willingness"] == {"numerator": 0, "denominator": 0, "share": None, "percent": None}
    assert no_data["project_id"] == w
    empty = next(i for i in body["items"] if i["community_id"] == e_cid)
    assert empty["project_id"] is None and empty["willingness"] is None
    assert body["excluded"] == [{"community_id": f_cid, "community_name": "新小区",
                                 "reason": body["excluded"][0]["reason"]}]
    assert body["excluded"][0]["reason"]
    assert body["ordered_by"] == ["willingness", "participation", "contribution"]


async def test_ranking_uses_the_latest_project(client, world, monkeypatch, clock) -> None:
    cid, old = await _community_with_project(client, world, "甲小区")
    clock.advance(seconds=5)
    r = await client.post(f"/api/v1/communities/{cid}/projects", headers=world.admin, json={"title": "二期"})
    new = r.json()["id"]

    async def survey_figures(session, *, project_id: str, now=None) -> WillingnessFigures:
        n = 1 if project_id == old else 5
        return WillingnessFigures(willingness=Ratio(n, 10))

    async def voting_figures(session, *, project_id: str) -> ContributionFigures:
        return ContributionFigures()

    monkeypatch.setattr(PROVIDERS, "willingness", survey_figures)
    monkeypatch.setattr(PROVIDERS, "contribution", voting_figures)
    r = await client.get(f"/api/v1/jurisdictions/{world.jurisdiction_id}/ranking", headers=world.admin)
    item = next(i for i in r.json()["items"] if i["community_id"] == cid)
    assert item["project_id"] == new and item["willingness"]["share"] == "1/2"
    assert item["participation"] is None and item["has_data"] is True


async def test_only_admins_see_the_ranking(client, world) -> None:
    url = f"/api/v1/jurisdictions/{world.jurisdiction_id}/ranking"
    assert (await client.get(url, headers=world.staff)).status_code in (403, 404)
    assert (await client.get(url, headers=world.residents[0].headers)).status_code in (403, 404)
    assert (await client.get(url)).status_code == 401
    assert (await client.get("/api/v1/jurisdictions/nope/ranking", headers=world.admin)).status_code == 404
