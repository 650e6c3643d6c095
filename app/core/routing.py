"""The routers the domains declare their endpoints on.

Every endpoint under ``/api/v1`` is declared on a router made by :func:`api_router`: its routes carry their
full path and the shared problem+json responses from the start, so the app serves them as one flat list
(:func:`app.api.install_api`). FastAPI keeps an *included* router as one node of a tree and matches a
request against it again at every level it passes, which cost about 0.1–0.2 ms of CPU per request with our
~140 routes (issue 17).
"""

from __future__ import annotations

from fastapi import APIRouter

from app.core.errors import PROBLEM_RESPONSES

API_PREFIX = "/api/v1"


def api_router(tag: str) -> APIRouter:
    """A domain's router for endpoints under ``/api/v1``, tagged ``tag`` in the OpenAPI document."""
    return APIRouter(prefix=API_PREFIX, tags=[tag], responses=PROBLEM_RESPONSES)
