"""Typed dependency aliases shared by routes.

Dependencies are ``async def`` even when they only read ``app.state``: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off on every request that uses it (issue 17;
``tests/core/test_dependencies.py`` keeps it so)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request

from app.core.config import Settings


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_http(request: Request) -> httpx.AsyncClient:
    return request.app.state.http


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]
