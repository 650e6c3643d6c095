"""The lobby board: a community's public page, reached by a random token that staff make, rotate and disable.

The token is 256 random bits (:func:`app.core.security.new_opaque_token`) shown once to staff and stored only as
a keyed hash (HMAC-SHA256 under the server secret, purpose ``board``), so a leaked database copy reveals no live
board address, and a guess costs the same lookup as a hit. One token per community: making a new one replaces
the old hash in the same row (the old address answers 404 at once); disabling deletes the row.

What the page shows comes from the owning domains' service functions only, and only what they publish:
publicity's open notices (title, kind, end date, working days left), turnout's answered / in scope by
households and area for open motions and questionnaires (never a choice or a count per option), and voting's
closed motions with the result exactly as their vote-result notice shows it (outcome and the condition lines;
no rooms: those stay on the notice itself). Nothing names a person or a household.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.board import repository as repo
from app.board.schemas import BoardTokenState
from app.core import audit
from app.core.config import Settings
from app.core.security import keyed_hash, new_opaque_token
from app.publicity import service as publicity
from app.publicity.service import OpenNotice
from app.register import service as register
from app.turnout import service as turnout
from app.turnout.service import OpenTurnout
from app.voting import service as voting
from app.voting.service import PublishedResult

TOKEN_BYTES = 32  # 256 bits
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,100}")
RESULTS_SHOWN = 10


@dataclass(frozen=True)
class IssuedToken:
    token: str
    created_at: datetime
    replaced: bool


@dataclass(frozen=True)
class BoardView:
    community: str
    notices: list[OpenNotice]
    open_items: list[OpenTurnout]
    results: list[PublishedResult]
    as_of: datetime


def token_hash(*, settings: Settings, token: str) -> str:
    return keyed_hash(settings.secret_key, token, purpose="board")


async def _authorize(session: AsyncSession, principal: Principal, community_id: str) -> None:
    scope = await register.community_scope(session, community_id=community_id)
    authorize(principal, "community.manage", scope)


async def issue_token(session: AsyncSession, *, settings: Settings, principal: Principal, community_id: str,
                      now: datetime) -> IssuedToken:
    """A new board address for the community (staff); the previous one, if any, stops working at once."""
    await _authorize(session, principal, community_id)
    token = new_opaque_token(TOKEN_BYTES)
    replaced = await repo.put(session, community_id=community_id, token_hash=token_hash(settings=settings, token=token),
                              now=now, by=principal.user_id)
    await audit.append(session, chain=community_id, action="board_token.rotated" if replaced else "board_token.created",
                       entity_type="community", entity_id=community_id, actor_id=principal.user_id, at=now,
                       data={"replaced": replaced})
    return IssuedToken(token=token, created_at=now, replaced=replaced)


async def disable_token(session: AsyncSession, *, principal: Principal, community_id: str, now: datetime) -> bool:
    """Turn the community's board off (staff); True when there was one. Idempotent."""
    await _authorize(session, principal, community_id)
    removed = await repo.remove(session, community_id)
    if removed:
        await audit.append(session, chain=community_id, action="board_token.disabled", entity_type="community",
                           entity_id=community_id, actor_id=principal.user_id, at=now, data={})
    return removed


async def token_state(session: AsyncSession, *, principal: Principal, community_id: str) -> BoardTokenState:
    """Whether the community has a live board address (never the address: it is shown only when made)."""
    await _authorize(session, principal, community_id)
    row = await repo.of_community(session, community_id)
    return BoardTokenState(active=row is not None, created_at=row.created_at if row is not None else None)


async def board_view(session: AsyncSession, *, settings: Settings, token: str, now: datetime) -> BoardView | None:
    """What the board of ``token`` shows at ``now``, or None for an unknown, rotated or disabled token."""
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    row = await repo.by_hash(session, token_hash(settings=settings, token=token))
    if row is None:
        return None
    community = await register.community_or_404(session, community_id=row.community_id)
    return BoardView(
        community=community.name,
        notices=await publicity.open_notices(session, community_id=community.id, now=now),
        open_items=await turnout.community_turnout(session, community_id=community.id, now=now),
        results=await voting.published_results(session, community_id=community.id, now=now, limit=RESULTS_SHOWN),
        as_of=now)
