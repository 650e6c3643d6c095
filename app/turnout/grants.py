"""WeChat one-time subscriptions: one acceptance of ``wx.requestSubscribeMessage``, one message.

The mini-program reports the templates the user accepted (``POST /api/v1/me/subscriptions``) and each adds one
unused grant for that user and template (at most :data:`GRANT_CAP` kept). Every subscribe message turnout
queues — reminders and the messages of other domains (:mod:`app.turnout.messages`) — uses one of its user's
grants in the transaction that queues it (:func:`use_grants`); a user without one is skipped. WeChat's 43101
(the user refused, or has no subscription left) sets the user's grants of that template to zero
(:func:`app.turnout.worker.run_outbox_once`). Not audited: a grant is the user's own consent, recorded with
its time on the row, and says nothing about a household's answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import service as auth_service
from app.auth.repository import TokenHolder
from app.core.config import get_settings
from app.core.errors import Invalid
from app.turnout import repository as repo
from app.turnout.schemas import SubscriptionGrants, TemplateGrant

GRANT_CAP = 50  # unused grants kept per user and template (WeChat's own count is what limits sending)
MAX_TEMPLATES = 3  # wx.requestSubscribeMessage asks for at most 3 templates at a time


def subscribe_templates() -> tuple[str, ...]:
    """The templates the service sends (``WECHAT_TEMPLATE_ID``): the only ones a grant is stored for."""
    return (get_settings().wechat_template_id,)


def template_of(payload: dict[str, Any]) -> str:
    """The template a queued message is sent with."""
    t = payload.get("template_id")
    return t if isinstance(t, str) and t else subscribe_templates()[0]


def _invalid(code: str, msg: str) -> Invalid:
    return Invalid(code, "订阅消息模板无效", msg, errors=[{"loc": ["body", "template_ids"], "msg": msg}])


async def record_subscriptions(session: AsyncSession, *, holder: TokenHolder, template_ids: Sequence[str],
                               now: datetime) -> SubscriptionGrants:
    """The signed-in WeChat user accepted these templates: one more unused grant of each (a template named
    twice counts once). 403 ``wechat.not_bound`` for a user not signed in through WeChat; 422
    ``subscription.template_unknown`` for a template the service does not send."""
    auth_service.require_wechat(holder=holder)
    known = subscribe_templates()
    ids = list(dict.fromkeys(template_ids))
    if not ids:
        raise _invalid("validation.failed", "at least one template id")
    if len(ids) > MAX_TEMPLATES:
        raise _invalid("validation.failed", f"at most {MAX_TEMPLATES} template ids")
    unknown = [t for t in ids if t not in known]
    if unknown:
        raise _invalid("subscription.template_unknown", f"unknown template ids: {', '.join(sorted(unknown))[:200]}")
    await repo.add_grants(session, user_id=holder.user_id, template_ids=ids, now=now, cap=GRANT_CAP)
    have = await repo.grants_of(session, user_id=holder.user_id)
    return SubscriptionGrants(grants=[TemplateGrant(template_id=t, unused=have.get(t, 0)) for t in known])


async def use_grants(session: AsyncSession, *, template_id: str, user_ids: Sequence[str],
                     now: datetime) -> set[str]:
    """Use one grant of the template for each distinct user that has one; the users whose grant was used."""
    return await repo.use_grants(session, template_id=template_id, user_ids=user_ids, now=now)
