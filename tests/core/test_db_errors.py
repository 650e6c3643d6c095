"""Values the database cannot hold are the client's fault: 422 problem+json, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.core.db import SessionDep


async def test_text_longer_than_its_column_is_422(app, client, database_url) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce VARCHAR lengths")

    @app.post("/test-only/too-long")
    async def too_long(session: SessionDep) -> dict:
        await session.execute(text("CREATE TEMP TABLE too_long (v VARCHAR(3)) ON COMMIT DROP"))
        await session.execute(text("INSERT INTO too_long VALUES (:v)"), {"v": "abcdef"})
        return {}

    r = await client.post("/test-only/too-long", headers={"Accept-Language": "en"})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "request.invalid_data"
