"""The lobby board: the public page ``GET /board/{token}`` (outside /api/v1: HTML for a screen) and the staff
endpoints that make, rotate and disable its address."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from app.auth.deps import PrincipalDep
from app.board import page, service
from app.board.schemas import BoardTokenIssued, BoardTokenState
from app.core import ratelimit as rl
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.deps import SettingsDep
from app.core.errors import TooManyRequests
from app.core.ratelimit import RateLimits, client_ip, get_rate_limits
from app.core.routing import api_router

LimitsDep = Annotated[RateLimits, Depends(get_rate_limits)]

router = api_router("board")
public_router = APIRouter(tags=["board"])  # at the root (app/main.py)


@router.post("/communities/{community_id}/board-token", response_model=BoardTokenIssued, status_code=201,
             operation_id="board_token_issue")
async def issue_token(community_id: str, request: Request, session: SessionDep, principal: PrincipalDep,
                      settings: SettingsDep, clock: ClockDep) -> BoardTokenIssued:
    """A new board address for the lobby screen (staff of the community). Shown only in this response; the
    community's previous address stops working at once (404). Audited."""
    issued = await service.issue_token(session, settings=settings, principal=principal, community_id=community_id,
                                       now=clock.now())
    path = f"/board/{issued.token}"
    url = str(request.base_url).rstrip("/") + path  # the server's address as the caller reached it (root path included)
    return BoardTokenIssued(url=url, path=path, token=issued.token, created_at=issued.created_at,
                            replaced=issued.replaced)


@router.get("/communities/{community_id}/board-token", response_model=BoardTokenState,
            operation_id="board_token_state")
async def token_state(community_id: str, session: SessionDep, principal: PrincipalDep) -> BoardTokenState:
    """Whether the community's board is on (staff); the address itself is shown only when it is made."""
    return await service.token_state(session, principal=principal, community_id=community_id)


@router.delete("/communities/{community_id}/board-token", status_code=204, operation_id="board_token_disable")
async def disable_token(community_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> Response:
    """Turn the board off (staff): its address answers 404 from now on. Idempotent. Audited."""
    await service.disable_token(session, principal=principal, community_id=community_id, now=clock.now())
    return Response(status_code=204)


@public_router.get("/board/{token}", response_class=HTMLResponse, operation_id="board_page",
                   responses={404: {"description": "unknown, rotated or disabled address (an HTML page, no detail)",
                                    "content": {"text/html": {}}},
                              429: {"description": "too many requests from one address", "content": {"text/html": {}}}})
async def board_page(token: str, request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep,
                     limits: LimitsDep) -> HTMLResponse:
    """The community's lobby board (public, read-only, Chinese, large type, reloads itself every minute): open
    notices with the working days left, open votes and questionnaires with their turnout (households and area
    answered / in scope; never a choice while open), and closed votes with the result their result notice
    shows. Nothing personal."""
    now = clock.now()
    try:
        await limits.hit(rl.BOARD_PER_IP, client_ip(request), now)
    except TooManyRequests as exc:
        headers = page.HEADERS | {"Retry-After": str(exc.extra.get("retry_after", 60))}
        return HTMLResponse(page.too_many_html(), status_code=429, headers=headers)
    view = await service.board_view(session, settings=settings, token=token, now=now)
    if view is None:
        return HTMLResponse(page.not_found_html(), status_code=404, headers=page.HEADERS)
    return HTMLResponse(page.board_html(view), headers=page.HEADERS)
