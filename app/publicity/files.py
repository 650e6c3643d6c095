"""Who may see the files publicity stores, registered with :data:`app.media.visibility.CHECKS` by the
composition root: objection photos (owner type ``objection``) and notice attachments (``notice_attachment``)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.media.models import MediaObject
from app.publicity import service
from app.register import service as register_service


async def objection_photo_visible(session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
    """The objection's own rule (:func:`app.publicity.service.objection_photo`): staff; the filer; residents
    once it is answered."""
    await service.objection_photo(session, principal=principal, objection_id=media.owner_id, media_id=media.id)


async def notice_attachment_visible(session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
    """Whoever may view notices in the attachment's community."""
    authorize(principal, "notice.view", await register_service.community_scope(session, community_id=media.community_id))
