"""Who may see a stored file: one check per owner type, registered by the domain that owns such files.

Media sits below the domains that attach files (voting's paper ballots, supervision's reports and acceptance,
publicity's objections and notices), so it cannot know their rules. Each of them provides a
:class:`VisibilityCheck` for its owner types and the composition root (:mod:`app.wiring`) registers it in
:data:`CHECKS` at start-up. A file whose owner type has no registered check is never served (404).
"""

from __future__ import annotations

from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal
from app.core.errors import Forbidden, NotFound
from app.media import service as media_service
from app.media.models import OWNER_TYPES, MediaObject


class VisibilityCheck(Protocol):
    async def __call__(self, session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
        """Return if ``principal`` may see ``media``; raise NotFound or Forbidden otherwise."""
        ...


CHECKS: dict[str, VisibilityCheck] = {}
"""owner type -> the check of the domain that owns such files (filled by :func:`app.wiring.wire`)."""


def missing_checks() -> list[str]:
    """Owner types without a registered check (the composition root refuses to start)."""
    return sorted(set(OWNER_TYPES) - set(CHECKS))


def _photo_not_found() -> NotFound:
    return NotFound("photo.not_found", "照片不存在", "Photo not found")


async def visible_media(session: AsyncSession, *, principal: Principal, media_id: str) -> MediaObject:
    """The media row if the caller may see it; 404 ``photo.not_found`` otherwise — never 403, so that
    nothing is revealed about a file one may not see, nor whether it exists."""
    m = await media_service.media_or_none(session, media_id=media_id)
    if m is None:
        raise _photo_not_found()
    check = CHECKS.get(m.owner_type)
    if check is None:
        raise _photo_not_found()
    try:
        await check(session, principal=principal, media=m)
        await media_service.check_served(session, principal=principal, m=m)  # WeChat's content check
    except (Forbidden, NotFound):
        raise _photo_not_found() from None
    return m
