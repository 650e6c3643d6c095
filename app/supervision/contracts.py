"""What supervision asks of the domain above it that delivers messages: the outbox (turnout, which sits
above supervision in docs/ARCHITECTURE.md, so supervision never imports it).

Supervision decides who is told what about a report — the reporter of every transition, the assignee of a
new deadline and of the warning before it, the street office of an escalation or a flag — and hands typed
:class:`ReportMessage` values to the registered :data:`OUTBOX` queue, in the request's (or the worker tick's)
own transaction. The queue writes one outbox row per message whose user can be reached (active and bound to
WeChat) and answers how many it wrote; the others see the report in the app. The composition root
(:mod:`app.wiring`) registers turnout's queue at start-up; queueing a message with none registered raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession


class MessageKind(StrEnum):
    TRANSITION = "transition"  # the report moved (to its reporter; a new deadline to its assignee)
    WARNING = "warning"  # the deadline is near (to the assignee)
    ESCALATION = "escalation"  # the deadline passed (to the street office and the assignee)
    FLAG = "flag"  # reopened too often (to the street office)


@dataclass(frozen=True)
class ReportMessage:
    """One message about a report to one user: a title, a moment and a short text (a WeChat subscribe
    message's thing1 / time2 / thing3), and the report it opens."""

    user_id: str
    report_id: str
    community_id: str
    kind: MessageKind
    title: str  # the report's title
    at: datetime  # the deadline (24:00 Shanghai of the due date) or the moment it happened
    text: str  # what happened, in Chinese, short


class MessageQueue(Protocol):
    async def __call__(self, session: AsyncSession, *, messages: Sequence[ReportMessage], now: datetime) -> int:
        """Queue the messages for delivery in the caller's transaction; the number of outbox rows written."""
        ...


class _Outbox:
    def __init__(self) -> None:
        self.queue: MessageQueue | None = None

    def get(self) -> MessageQueue:
        if self.queue is None:
            raise RuntimeError("no message queue registered for supervision (see app.wiring)")
        return self.queue


OUTBOX = _Outbox()
