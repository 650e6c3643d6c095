"""Who may see the files voting stores: the slip photo of a paper ballot (owner type ``paper_ballot``), for
the staff who may enter paper ballots in the ballot's community. Registered with
:data:`app.media.visibility.CHECKS` by the composition root."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.media.models import MediaObject
from app.register import service as register_service


async def paper_ballot_photo_visible(session: AsyncSession, *, principal: Principal, media: MediaObject) -> None:
    """Raise NotFound/Forbidden unless ``principal`` holds ``motion.paper_ballot`` in the photo's community."""
    authorize(principal, "motion.paper_ballot", await register_service.community_scope(session, community_id=media.community_id))
