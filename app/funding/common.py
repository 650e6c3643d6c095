"""What the funding modules share: finding the plan and its project, the errors, and the public shapes of a
line and a payment."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Scope
from app.core.errors import Conflict, Invalid, NotFound
from app.funding.lines import Ledger, Line
from app.funding.models import FundingPayment, PaymentKind, PaymentMethod
from app.funding.schemas import LineState, PaymentPublic
from app.projects import service as projects_service
from app.projects.models import Project
from app.rules.shares import yuan_text
from app.voting import service as voting_service
from app.voting.service import PlanFacts


def plan_not_found() -> NotFound:
    return NotFound("plan.not_found", "改造方案不存在", "Plan not found")


async def plan_and_project(session: AsyncSession, plan_id: str) -> tuple[PlanFacts, Project, Scope]:
    """The plan version, its project and the project's scope to authorize against (404 for an unknown plan)."""
    plan = await voting_service.plan_facts(session, plan_id=plan_id)
    if plan is None:
        raise plan_not_found()
    project = await projects_service.project_or_404(session, project_id=plan.project_id)
    return plan, project, projects_service.project_scope(project=project)


def require_current(plan: PlanFacts, led: Ledger) -> None:
    """Pledges and payments are recorded against the project's current plan version only."""
    if led.current is None or led.current.id != plan.id:
        raise Conflict("plan.superseded", "该方案版本已被修订，请在最新版本上登记",
                       "This plan version was superseded; record against the current version",
                       current_plan_id=led.current.id if led.current else None)


def unknown_items(errors: list[dict[str, Any]]) -> Invalid:
    return Invalid("funding.unknown_item", "所列项目不是当前方案中有居民出资的改造项目",
                   "Not an item of the current plan with a residents' share", errors=errors)


def line_or_422(led: Ledger, item_id: str, *, loc: list[Any], dropped_too: bool = False) -> Line:
    ln = led.line_for(item_id, dropped_too=dropped_too)
    if ln is None:
        raise unknown_items([{"loc": loc, "msg": "no item with a residents' share of this id"}])
    return ln


def item_dropped(ln: Line) -> Conflict:
    return Conflict("funding.item_dropped", f"“{ln.title}”已在方案修订中撤销，不再筹集居民出资",
                    f"The item {ln.item_id} was dropped by a plan revision", item_id=ln.item_id,
                    line_id=ln.line_id)


def item_funded(ln: Line) -> Conflict:
    return Conflict("funding.item_funded",
                    f"“{ln.title}”的居民出资已经到位（应筹 {yuan_text(ln.share_fen)} 元），不再接受认缴",
                    f"The residents' share of item {ln.item_id} is already funded", item_id=ln.item_id,
                    line_id=ln.line_id, residents_share_fen=ln.share_fen, counted_fen=ln.counted_fen)


def out_of_scope(loc: list[Any], ln: Line) -> Invalid:
    if ln.frozen_at is not None:
        return Invalid("funding.household_out_of_scope",
                       f"该房屋不在“{ln.title}”首笔收款时锁定的分摊名单内（房屋登记有变动的，可由工作人员重新核定应缴金额）",
                       "The household is not on the item's roll, frozen at its first collection (staff may "
                       "recompute the shares from the register)",
                       errors=[{"loc": loc, "msg": "not on the item's frozen roll"}],
                       shares_frozen_at=ln.frozen_at.isoformat())
    return Invalid("funding.household_out_of_scope", f"该房屋不在“{ln.title}”的改造范围内",
                   "The household is not in the item's scope", errors=[{"loc": loc, "msg": "not in the item's scope"}])


def over_collected(ln: Line, *, share_fen: int, paid_fen: int, amount_fen: int, opted_in: bool) -> Invalid:
    room = max(0, share_fen - paid_fen)
    hint = "" if opted_in else "（该户尚未认缴此自愿参加的项目，请先登记认缴）"
    return Invalid("funding.over_collected",
                   f"该户“{ln.title}”应缴 {yuan_text(share_fen)} 元，已缴 {yuan_text(paid_fen)} 元，本次最多登记 "
                   f"{yuan_text(room)} 元{hint}；确需多收请注明 over_share",
                   "The household's payments would exceed its share; set over_share to record it anyway",
                   errors=[{"loc": ["body", "amount_fen"], "msg": f"at most {room} without over_share"}],
                   share_fen=share_fen, paid_fen=paid_fen, amount_fen=amount_fen, max_fen=room)


def line_state(ln: Line) -> LineState:
    assert ln.line_id is not None
    return LineState(line_id=ln.line_id, item_id=ln.item_id, status=ln.status, residents_share_fen=ln.share_fen,
                     pledged_fen=ln.pledged_fen, collected_fen=ln.net_fen, counted_fen=ln.counted_fen,
                     short_fen=ln.short_fen)


def payment_public(p: FundingPayment, item_id: str) -> PaymentPublic:
    return PaymentPublic(id=p.id, kind=PaymentKind(p.kind), line_id=p.line_id, item_id=item_id,
                         household_id=p.household_id, amount_fen=p.amount_fen, paid_on=p.paid_on,
                         method=PaymentMethod(p.method), receipt_no=p.receipt_no, note=p.note, actor_id=p.actor_id,
                         created_at=p.created_at)
