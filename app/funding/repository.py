"""Every query of the residents' share ledger."""

from __future__ import annotations

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import upsert_insert
from app.funding.models import FundingLine, FundingPayment, FundingPledge


async def lines_of(session: AsyncSession, project_id: str, *, lock: bool = False) -> list[FundingLine]:
    """The project's ledger lines by position; ``lock``: FOR UPDATE (every write of a project's ledger takes
    them first, so that two writes settle the lines' status one after the other; SQLite serialises writers)."""
    q = (select(FundingLine).where(col(FundingLine.project_id) == project_id)
         .order_by(col(FundingLine.position), col(FundingLine.id)))
    if lock:
        q = q.with_for_update()
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def insert_line(session: AsyncSession, line: FundingLine) -> bool:
    """Insert a line unless the project already has one with its key (a concurrent first write made it);
    whether this call inserted it."""
    values = {c.name: getattr(line, c.name) for c in FundingLine.__table__.columns}  # type: ignore[attr-defined]
    ins = upsert_insert(session, FundingLine)
    res = await session.exec(ins.values(**values).on_conflict_do_nothing())
    return bool(res.rowcount == 1)


async def pledge_sums(session: AsyncSession, project_id: str) -> dict[str, tuple[int, int]]:
    """line id -> (sum of the current pledges, households with a pledge above 0)."""
    q = (select(FundingPledge.line_id, func.sum(FundingPledge.amount_fen),
                func.sum(case((col(FundingPledge.amount_fen) > 0, 1), else_=0)))
         .join(FundingLine, col(FundingLine.id) == FundingPledge.line_id)
         .where(col(FundingLine.project_id) == project_id)
         .group_by(col(FundingPledge.line_id)))
    return {line_id: (int(total or 0), int(n or 0)) for line_id, total, n in (await session.exec(q)).all()}


async def payment_sums(session: AsyncSession, project_id: str) -> dict[tuple[str, str], int]:
    """(line id, kind) -> the sum of the payments of that kind."""
    q = (select(FundingPayment.line_id, FundingPayment.kind, func.sum(FundingPayment.amount_fen))
         .where(col(FundingPayment.project_id) == project_id)
         .group_by(col(FundingPayment.line_id), col(FundingPayment.kind)))
    return {(line_id, kind): int(total or 0) for line_id, kind, total in (await session.exec(q)).all()}


async def opted_in(session: AsyncSession, project_id: str) -> dict[str, set[str]]:
    """line id -> the households with a pledge above 0 (for an ``opted_in`` line: those who opted in)."""
    q = (select(FundingPledge.line_id, FundingPledge.household_id)
         .join(FundingLine, col(FundingLine.id) == FundingPledge.line_id)
         .where(col(FundingLine.project_id) == project_id, col(FundingPledge.amount_fen) > 0))
    out: dict[str, set[str]] = {}
    for line_id, household_id in (await session.exec(q)).all():
        out.setdefault(line_id, set()).add(household_id)
    return out


async def pledges_of(session: AsyncSession, project_id: str,
                     household_ids: list[str] | None = None) -> list[FundingPledge]:
    """The project's current pledges (of the given households only, if any are given)."""
    q = (select(FundingPledge).join(FundingLine, col(FundingLine.id) == FundingPledge.line_id)
         .where(col(FundingLine.project_id) == project_id)
         .order_by(col(FundingPledge.household_id), col(FundingPledge.line_id)))
    if household_ids is not None:
        q = q.where(col(FundingPledge.household_id).in_(household_ids))
    return list((await session.exec(q.execution_options(populate_existing=True))).all())


async def pledge_for(session: AsyncSession, line_id: str, household_id: str) -> FundingPledge | None:
    q = (select(FundingPledge).where(col(FundingPledge.line_id) == line_id,
                                     col(FundingPledge.household_id) == household_id)
         .execution_options(populate_existing=True))
    return (await session.exec(q)).first()


async def payments_of(session: AsyncSession, project_id: str,
                      household_ids: list[str] | None = None) -> list[FundingPayment]:
    """The project's collections and refunds in the order they were recorded (of the given households only, if
    any are given)."""
    q = (select(FundingPayment).where(col(FundingPayment.project_id) == project_id)
         .order_by(col(FundingPayment.created_at), col(FundingPayment.id)))
    if household_ids is not None:
        q = q.where(col(FundingPayment.household_id).in_(household_ids))
    return list((await session.exec(q)).all())


async def paid_by(session: AsyncSession, line_id: str, household_id: str) -> dict[str, int]:
    """kind -> what the household paid (collection) or got back (refund) for the line."""
    q = (select(FundingPayment.kind, func.sum(FundingPayment.amount_fen))
         .where(col(FundingPayment.line_id) == line_id, col(FundingPayment.household_id) == household_id)
         .group_by(col(FundingPayment.kind)))
    return {kind: int(total or 0) for kind, total in (await session.exec(q)).all()}


async def receipt_taken(session: AsyncSession, project_id: str, kind: str, receipt_no: str) -> bool:
    q = select(FundingPayment.id).where(col(FundingPayment.project_id) == project_id,
                                        col(FundingPayment.kind) == kind, col(FundingPayment.receipt_no) == receipt_no)
    return (await session.exec(q)).first() is not None


async def has_entries(session: AsyncSession, line_id: str) -> bool:
    """Whether anyone has pledged (above 0) or paid for the line."""
    p = select(FundingPledge.id).where(col(FundingPledge.line_id) == line_id, col(FundingPledge.amount_fen) > 0)
    if (await session.exec(p.limit(1))).first() is not None:
        return True
    q = select(FundingPayment.id).where(col(FundingPayment.line_id) == line_id)
    return (await session.exec(q.limit(1))).first() is not None
