"""The renovation content catalogs: packaged data, the idempotent seed, and GET /catalogs/{name}."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from app.surveys import catalog, service
from app.surveys.models import CatalogItem
from tests.surveys.helpers import make_project

# ../shared beside the repository (as on CI and the development machines)
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "catalogs"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared catalogs are not on this machine")
@pytest.mark.parametrize("name", ["linyi", "qingdao"])
def test_packaged_copies_equal_the_shared_catalogs(name: str) -> None:
    assert (catalog.CATALOG_DIR / f"{name}.csv").read_bytes() == (SHARED / f"{name}.csv").read_bytes()


def test_packaged_catalogs_parse() -> None:
    linyi = catalog.packaged("linyi")
    assert len(linyi) == 36
    assert {c: sum(e.category == c for e in linyi) for c in ("basic", "complete", "upgrade")} == {
        "basic": 19, "complete": 11, "upgrade": 6}
    assert all(e.selection is None and not e.mandatory for e in linyi)
    qingdao = catalog.packaged("qingdao")
    assert len(qingdao) == 27
    assert {e.selection for e in qingdao} == {"mandatory", "recommended", "optional"}
    by_seq = {e.seq: e for e in qingdao}
    assert by_seq[1].title == "拆除违法建设" and by_seq[1].mandatory
    assert by_seq[2].selection == "recommended" and not by_seq[2].mandatory
    with pytest.raises(KeyError):
        catalog.packaged("atlantis")


async def _count(app, name: str | None = None) -> int:
    async with app.state.db.read_session() as s:
        q = select(func.count()).select_from(CatalogItem)
        if name:
            q = q.where(CatalogItem.catalog == name)
        return (await s.exec(q)).one()


async def test_seed_is_idempotent(app) -> None:
    assert await _count(app) == 0
    async with app.state.db.write_session() as s:
        assert await service.ensure_catalogs(s) == 63
        await s.commit()
    async with app.state.db.write_session() as s:
        assert await service.ensure_catalogs(s) == 0  # nothing differs: nothing written
        # a row changed by hand is put back by the next seed
        row = (await s.exec(select(CatalogItem).where(CatalogItem.catalog == "qingdao", CatalogItem.seq == 2))).one()
        row.title = "改坏了"
        s.add(row)
        await s.commit()
    async with app.state.db.write_session() as s:
        assert await service.ensure_catalogs(s, names=["qingdao"]) == 1
        await s.commit()
        assert await service.catalog_item_title(s, catalog="qingdao", seq=2) == "道路铺装"
        assert await service.catalog_item_title(s, catalog="qingdao", seq=24) is None
        assert await service.catalog_item_title(s, catalog="atlantis", seq=1) is None
    assert await _count(app, "linyi") == 36 and await _count(app, "qingdao") == 27


async def _questionnaire_from_catalog_seeds_the_profiles_catalog(app, client, world) -> None:
    pid = await make_project(client, world)
    r = await client.post(f"/api/v1/projects/{pid}/questionnaires", headers=world.staff,
                          json={"kind": "needs", "from_catalog": True})
    assert r.status_code == 201, r.text
    assert await _count(app, "qingdao") == 27  # Laoshan's profile names the Qingdao catalog
    assert await _count(app, "linyi") == 0


async def test_get_catalog_and_seed_on_first_use(app, client, world) -> None:
    resident = world.residents[0].headers
    r = await client.get("/api/v1/catalogs/qingdao", headers=resident)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "qingdao" and len(body["items"]) == 27
    first = body["items"][0]
    assert first == {"key": "1", "seq": 1, "category": "basic", "category_zh": "基础类", "title": "拆除违法建设",
                     "standard": "拆除小区内违法建设，清理小区乱堆乱放，恢复小区空间。", "selection": "mandatory",
                     "selection_zh": "必选", "mandatory": True}
    assert sum(i["mandatory"] for i in body["items"]) == sum(e.mandatory for e in catalog.packaged("qingdao"))
    r = await client.get("/api/v1/catalogs/linyi", headers=world.staff)
    assert r.status_code == 200 and r.json()["counts"] == {"basic": 19, "complete": 11, "upgrade": 6}
    r = await client.get("/api/v1/catalogs/atlantis", headers=resident)
    assert r.status_code == 404 and r.json()["code"] == "catalog.not_found"
    r = await client.get("/api/v1/catalogs/qingdao")
    assert r.status_code == 401
    # served from the packaged file until a questionnaire needs the catalog and seeds the table
    assert await _count(app) == 0
    await _questionnaire_from_catalog_seeds_the_profiles_catalog(app, client, world)
    r = await client.get("/api/v1/catalogs/qingdao", headers=resident)
    assert r.status_code == 200 and r.json() == body
