"""The one router registry: every domain's /api/v1 router, and how the app serves them."""

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount

from app.auth.routes import router as auth_router
from app.board.routes import router as board_router
from app.funding.routes import router as funding_router
from app.media.routes import router as media_router
from app.projects.routes import router as projects_router
from app.publicity.routes import router as publicity_router
from app.register.routes import router as register_router
from app.supervision.routes import router as supervision_router
from app.surveys.routes import router as surveys_router
from app.turnout.routes import router as turnout_router
from app.voting.routes import router as voting_router

API_ROUTERS = (auth_router, register_router, projects_router, surveys_router, voting_router, funding_router,
               publicity_router, supervision_router, turnout_router, media_router, board_router)


# The requests that come most often (issue 17): a resident's own page, the notice list that every WeChat push
# leads to, a ballot and a paper slip. The app tries its routes in order, about 1.5 µs each, and these were the
# 64th, 93rd, 9th and 65th of 151: create_app tries them first (see hot_routes_first).
HOT_ROUTES: tuple[tuple[str, str], ...] = (
    ("PUT", "/api/v1/motions/{motion_id}/ballot"),
    ("GET", "/api/v1/communities/{community_id}/notices"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/motions/{motion_id}/paper-ballots"),
)


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def may_share_a_path(a: str, b: str) -> bool:
    """Whether one request path could match both route paths ``a`` and ``b``: as many segments, and at each
    one the same text or a parameter on either side. Anything else that could (a ``{…:path}`` parameter, a
    parameter inside a segment's text) counts as sharing, to be safe."""
    sa, sb = _segments(a), _segments(b)
    if any(":path}" in x for x in sa + sb):
        return True
    if len(sa) != len(sb):
        return False
    return all(x == y or "{" in x or "{" in y for x, y in zip(sa, sb, strict=True))


def hot_routes_first(routes: list[Any]) -> None:
    """Move the :data:`HOT_ROUTES` to the front of ``routes``, in place, each only when no route it would
    overtake could match any of its paths (a route without a plain ``path``, a mount say, counts as one that
    could): then every request is matched by the same route as before, whatever its method."""
    for method, path in reversed(HOT_ROUTES):
        at = next((i for i, r in enumerate(routes) if isinstance(r, APIRoute) and r.path == path
                   and method in (r.methods or ())), None)
        if at is None:
            continue
        before = routes[:at]
        if all(isinstance(getattr(r, "path", None), str) and not isinstance(r, Mount)
               and not may_share_a_path(path, r.path) for r in before):
            routes.insert(0, routes.pop(at))


def install_api(app: FastAPI) -> None:
    """Every /api/v1 endpoint as a route of the app itself, in the routers' order (``create_app`` then moves the
    hot ones first). The routers were made by :func:`app.core.routing.api_router`, so their routes already carry
    the full path, tags and problem responses; nothing is left for ``include_router`` to add, and the app matches
    a request once, against one flat list."""
    for r in API_ROUTERS:
        app.router.routes.extend(r.routes)
