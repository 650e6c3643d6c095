"""Service plumbing: health, readiness, problem+json, body caps, OpenAPI kept in sync, migrations."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_health_and_ready(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


async def test_readyz_reports_database_down(app, client) -> None:
    from app.core.config import Settings
    from app.core.db import Database

    await app.state.db.dispose()
    app.state.db = Database(Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "service.unavailable"


async def test_unknown_route_is_problem_json(client) -> None:
    r = await client.get("/api/v1/nowhere")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"


async def test_validation_errors_have_errors_list(client, world) -> None:
    r = await client.post("/api/v1/communities", headers=world.admin, json={"name": 5})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation.failed" and body["errors"] and "loc" in body["errors"][0]


async def test_body_cap_and_deep_json(client, world) -> None:
    r = await client.post("/api/v1/communities", headers=world.admin | {"content-type": "application/json"},
                          content=b"[" * 2_000_000)
    assert r.status_code == 413
    deep = b"[" * 100_000 + b"]" * 100_000
    r = await client.post("/api/v1/communities", headers=world.admin | {"content-type": "application/json"},
                          content=deep)
    assert 400 <= r.status_code < 500


async def test_metrics(client) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert "http_requests_total" in r.text


def test_openapi_file_matches_app() -> None:
    from app.cli_tasks import openapi_json

    committed = (ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(committed) == json.loads(openapi_json()), "run: python -m app openapi"


async def test_start_up_objects_are_frozen_out_of_the_collector(settings, clock) -> None:
    """Issue 17: the serving process's lifespan moves what start-up loaded into the collector's permanent
    generation, so full collections under load no longer walk it."""
    import gc

    from app.main import create_app

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    application = create_app(settings, clock=clock)
    try:
        async with application.router.lifespan_context(application):
            assert gc.get_freeze_count() > 10_000  # modules, tables, routes, schemas
    finally:
        gc.unfreeze()
