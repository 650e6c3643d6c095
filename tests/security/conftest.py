"""Fixtures of the security tests: the rich world and the app's route list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.documents.conftest import cjk_font  # noqa: F401 - the printed documents' font, installed if missing
from tests.security.world import SecWorld, build_security_world


def app_routes(app) -> dict[str, object]:
    """Every HTTP operation the app serves, as "METHOD /path/template" → route (APIRoute or its included
    context). FastAPI ≥ 0.160 keeps included routers as one node; their effective routes are walked."""
    out: dict[str, object] = {}

    def walk(routes) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                for m in r.methods:
                    out[f"{m} {r.path}"] = r
            elif hasattr(r, "effective_route_contexts"):
                for ctx in r.effective_route_contexts():
                    if isinstance(ctx.original_route, APIRoute):
                        for m in ctx.methods:
                            out[f"{m} {ctx.path}"] = ctx
    walk(app.routes)
    return out


@pytest.fixture
async def sec_world(app, client, wechat) -> SecWorld:
    return await build_security_world(app, client, wechat)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    """The app over httpx, with a server error answered as the 500 a real client would get (instead of
    re-raised in the test), so that a failure names the request that broke."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
