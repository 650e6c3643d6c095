"""The one router registry: every domain's router is mounted here under /api/v1."""

from fastapi import APIRouter

from app.auth.routes import router as auth_router
from app.board.routes import router as board_router
from app.core.errors import PROBLEM_RESPONSES
from app.funding.routes import router as funding_router
from app.media.routes import router as media_router
from app.projects.routes import router as projects_router
from app.publicity.routes import router as publicity_router
from app.register.routes import router as register_router
from app.supervision.routes import router as supervision_router
from app.surveys.routes import router as surveys_router
from app.turnout.routes import router as turnout_router
from app.voting.routes import router as voting_router

api_router = APIRouter(prefix="/api/v1", responses=PROBLEM_RESPONSES)
for r in (auth_router, register_router, projects_router, surveys_router, voting_router, funding_router,
          publicity_router, supervision_router, turnout_router, media_router, board_router):
    api_router.include_router(r)
