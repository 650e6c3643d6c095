"""The one router registry: every domain's /api/v1 router, and how the app serves them."""

from fastapi import FastAPI

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


def install_api(app: FastAPI) -> None:
    """Every /api/v1 endpoint as a route of the app itself, in the routers' order. The routers were made by
    :func:`app.core.routing.api_router`, so their routes already carry the full path, tags and problem
    responses; nothing is left for ``include_router`` to add, and the app matches a request once, against
    one flat list."""
    for r in API_ROUTERS:
        app.router.routes.extend(r.routes)
