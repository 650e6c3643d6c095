"""Application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import fastapi_offline
import httpx
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from app import models as _models  # noqa: F401  (every table registered)
from app.api import hot_routes_first, install_api
from app.board.routes import public_router as board_public_router
from app.core.clock import Clock, SystemClock
from app.core.config import Settings, get_settings
from app.core.db import Database
from app.core.errors import ProblemDetail, install_error_handlers, problem
from app.core.limits import BodyLimitMiddleware
from app.core.metrics import MetricsMiddleware, new_tally
from app.core.ratelimit import RateLimits, make_limiter
from app.core.wechat_tokens import make_token_store
from app.media.storage import app_storage
from app.wiring import wire

log = logging.getLogger("app")

GC_THRESHOLDS = (10_000, 20, 100)  # the collector's generations, set at start-up (see _lifespan)
DOCS_STATIC = "/docs-static"  # Swagger UI and ReDoc assets, served by the app itself (no CDN)
_DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"


def _operation_id(route: APIRoute) -> str:
    return route.name


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # What start-up loaded (modules, tables, routes, schemas) lives as long as the process. Moved out of the
    # collector's generations, it is no longer walked by every full collection, which under load cost about a
    # quarter of a GET /me's CPU (issue 17).
    gc.collect()
    gc.freeze()
    # A request allocates thousands of objects that die with it. At Python's default (a collection of the youngest
    # generation every 700 allocations, a full one every 100 of those) a process loaded with GET /me and ballots
    # spent 8 % of its CPU in the collector, walking the objects of the requests in flight again and again;
    # collected about fourteen times less often, most are gone by then: 5 % (issue 17, SQLite, 2026-12-04: GET /me
    # 0.61-0.66 -> 0.55-0.56 ms). Cycles are still collected, only later: a few MB at most.
    gc.set_threshold(*GC_THRESHOLDS)
    yield
    await close_app(app)


async def close_app(app: FastAPI) -> None:
    """Close what :func:`create_app` opened (the lifespan's end; ``python -m app worker`` calls it too)."""
    await app.state.http.aclose()
    await app.state.rate_limits.limiter.close()
    storage = getattr(app.state, "storage", None)
    if storage is not None:
        await storage.close()
    if app.state.redis is not None:
        await app.state.redis.aclose()
    await app.state.db.dispose()


def _redis_client(url: str | None) -> Any:
    """The app's Redis client (shared WeChat token, readiness), or None without ``REDIS_URL``."""
    if not url:
        return None
    import redis.asyncio as redis

    return redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


async def _readiness(app: FastAPI) -> dict[str, str]:
    """What each dependency the app is configured with answers: "ok", or why not (database first)."""
    out: dict[str, str] = {}
    try:
        async with app.state.db.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        out["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        out["database"] = type(exc).__name__
    if app.state.redis is not None:
        try:
            await app.state.redis.ping()
            out["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            out["redis"] = type(exc).__name__
    try:
        await app_storage(app.state).check()
        out["storage"] = "ok"
    except Exception as exc:  # noqa: BLE001
        out["storage"] = type(exc).__name__
    return out


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts, styles and icon served under ``/docs-static``
    from the ``fastapi-offline`` package: the pages work on a network without internet access. Plain
    Starlette routes, so they stay out of the OpenAPI document and the API's route list."""
    app.mount(DOCS_STATIC, StaticFiles(directory=_DOCS_ASSETS), name="docs-static")
    redirect = "/docs/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect}", swagger_js_url=f"{root}{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_STATIC}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None})  # no call to the online validator

    async def swagger_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_STATIC}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_STATIC}/favicon.png", with_google_fonts=False)

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(redirect, swagger_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, http: httpx.AsyncClient | None = None
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Old-community renovation: resident engagement API",
        version="1.0.0",
        description="Households, surveys, votes, notices and supervision for 老旧小区改造. "
        "Errors are application/problem+json with stable codes.",
        lifespan=_lifespan,
        generate_unique_id_function=_operation_id,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry off: the app configures no provider (its metrics are its own, /metrics), and
        # unconfigured it still asked OpenTelemetry for three providers on every request (issue 17)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.db = Database(settings)
    app.state.http = http or httpx.AsyncClient(timeout=settings.wechat_timeout_s)
    app.state.metrics = new_tally()
    app.state.rate_limits = RateLimits(make_limiter(settings.redis_url, settings.rate_limit_prefix), settings.rate_limit_enabled)
    app.state.redis = _redis_client(settings.redis_url)
    # WeChat's access token, shared by every caller and instance: Redis when configured, else the database
    app.state.wechat_tokens = make_token_store(clock=app.state.clock, redis=app.state.redis, db=app.state.db)
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(MetricsMiddleware, counter=app.state.metrics)

    install_api(app)
    app.router.routes.extend(board_public_router.routes)  # GET /board/{token}: the public lobby page, outside /api/v1
    _original_openapi = app.openapi

    def _openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = _original_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {})["ProblemDetail"] = (
                ProblemDetail.model_json_schema(ref_template="#/components/schemas/{model}"))
            paths = schema.get("paths", {})  # in the declared order, not the order they are matched in
            declared = dict.fromkeys(getattr(r, "path", "") for r in app.state.declared_routes)
            order = {p: i for i, p in enumerate(declared)}
            schema["paths"] = dict(sorted(paths.items(), key=lambda kv: order.get(kv[0], len(order))))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = _openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    _install_docs(app)

    @app.get("/healthz", tags=["ops"], operation_id="healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], operation_id="readyz",
             responses={503: {"description": "the database, Redis (when configured) or the media storage is down"}})
    async def readyz(request: Request) -> JSONResponse:
        checks = await _readiness(app)
        if checks["database"] != "ok":
            return problem(request, status=503, code="service.unavailable", zh="数据库不可用",
                           en="Database unavailable", checks=checks)
        if any(v != "ok" for v in checks.values()):
            return problem(request, status=503, code="service.unavailable", zh="依赖的服务不可用",
                           en="A service the app depends on is unavailable", checks=checks)
        return JSONResponse({"status": "ready", "database": app.state.db.dialect,
                             "storage": app.state.settings.media_storage, "checks": checks})

    @app.get("/metrics", tags=["ops"], operation_id="metrics", response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        lines = ["# TYPE http_requests_total counter"]
        seconds = ["# TYPE http_request_seconds_total counter"]
        for key, value in sorted(app.state.metrics.items(), key=lambda kv: str(kv[0])):
            if key[0] == "__seconds__":
                seconds.append(f'http_request_seconds_total{{route="{key[1]}"}} {value:.6f}')
            else:
                lines.append(f'http_requests_total{{route="{key[0]}",status="{key[1]}xx"}} {value}')
        return PlainTextResponse("\n".join(lines + seconds) + "\n")

    if settings.run_worker:  # else `python -m app worker` does the periodic work (serve --no-worker)
        from app.turnout.worker import install_outbox_worker

        install_outbox_worker(app)
    app.state.declared_routes = list(app.router.routes)  # the order of the documents (and tests/core/test_routes)
    hot_routes_first(app.router.routes)
    wire()
    return app


def __getattr__(name: str) -> FastAPI:
    """``app.main:app`` for tools that expect a module-level app; built on first access only."""
    if name == "app":
        return create_app()
    raise AttributeError(name)
