"""What is recorded in the ledger: pledges (a resident for their household, staff from a paper pledge or from
the answers of a contribution questionnaire), collections and refunds (staff), and the split rule of an item.

Every write is against the project's current plan version (409 ``plan.superseded`` otherwise), takes the
project's lines first (:func:`app.funding.lines.sync`), checks everything before it writes (bad input 422,
state 409), appends each entry to the community's audit chain, and syncs again so that a line's status
follows at once (the status change audited too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize, is_manager
from app.core import audit
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.funding import lines
from app.funding import repository as repo
from app.funding.common import (
    item_dropped,
    item_funded,
    line_or_422,
    line_state,
    out_of_scope,
    over_collected,
    payment_public,
    plan_and_project,
    require_current,
    unknown_items,
)
from app.funding.lines import Ledger, Line, Split
from app.funding.models import FundingPayment, FundingPledge, LineStatus, PaymentKind, PledgeChannel
from app.funding.schemas import (
    CollectionIn,
    FundingView,
    HouseholdFunding,
    PaymentRecorded,
    PledgeRequest,
    PledgesFromQuestionnaire,
    QuestionnairePledges,
    RefundIn,
    SkippedHousehold,
    SplitRequest,
)
from app.funding.views import funding_view, household_funding
from app.projects.models import Project
from app.register import service as register_service
from app.register.service import PlacedHousehold
from app.rules import business_date
from app.rules.shares import SplitRule, yuan_text
from app.surveys import service as surveys_service


async def _sync(session: AsyncSession, project: Project, principal: Principal, now: datetime) -> Ledger:
    return await lines.sync(session, project_id=project.id, community_id=project.community_id, now=now,
                            actor_id=principal.user_id)


def _household_required() -> Invalid:
    return Invalid("funding.household_required", "请指定房屋（household_id）", "household_id is required",
                   errors=[{"loc": ["body", "household_id"], "msg": "required"}])


async def _pledging_household(session: AsyncSession, principal: Principal, *, manager: bool, project: Project,
                              household_id: str | None) -> PlacedHousehold:
    """Staff pledge for any household of the community (``household_id`` required); a resident for their own,
    as an owner or co-owner."""
    if not manager:
        mine = principal.households_in(project.community_id)
        refs = [h for h in mine if h.household_id == household_id] if household_id is not None else mine
        if household_id is not None and not refs:
            raise NotFound("household.not_found", "该房屋不属于您", "Not one of your households")
        if len(refs) != 1:
            raise _household_required()
        if not refs[0].may_act:
            raise Forbidden("funding.not_permitted_relation", "只有业主或共有人可以代表本户认缴",
                            "Only an owner or co-owner may pledge for the household")
        household_id = refs[0].household_id
    if household_id is None:
        raise _household_required()
    found = await register_service.households_by_id(session, community_id=project.community_id,
                                                    household_ids=[household_id])
    if not found:
        raise NotFound("household.not_found", "房屋不存在", "Household not found")
    return found[0]


async def _upsert_pledge(session: AsyncSession, *, ln: Line, household_id: str, amount_fen: int | None,
                         channel: str, questionnaire_id: str | None, actor_id: str,
                         now: datetime) -> tuple[FundingPledge, FundingPledge | None]:
    """The household's pledge for the line, set to ``amount_fen`` (None: "my share"): (the pledge, a copy of
    the one it replaced, if any)."""
    assert ln.line_id is not None
    p = await repo.pledge_for(session, ln.line_id, household_id)
    before = FundingPledge.model_validate(p.model_dump()) if p is not None else None
    if p is None:
        p = FundingPledge(line_id=ln.line_id, household_id=household_id, amount_fen=amount_fen, channel=channel,
                          questionnaire_id=questionnaire_id, version=1, actor_id=actor_id, created_at=now,
                          updated_at=now)
    else:
        p.amount_fen, p.channel, p.questionnaire_id = amount_fen, channel, questionnaire_id
        p.version, p.actor_id, p.updated_at = p.version + 1, actor_id, now
    session.add(p)
    await session.flush()
    return p, before


def _pledgeable(ln: Line, *, household_id: str, amount_fen: int | None) -> None:
    """409 for a dropped item, and for a funded one — except an opt-in to an ``opted_in`` item: a household
    joining lowers everyone's share, it is never refused because the item is covered."""
    if ln.item is None:
        raise item_dropped(ln)
    opting_in = (ln.split is SplitRule.OPTED_IN and household_id not in ln.standing
                 and (amount_fen is None or amount_fen > 0))
    if ln.status is LineStatus.FUNDED and not opting_in:
        raise item_funded(ln)


async def pledge(session: AsyncSession, *, principal: Principal, plan_id: str, body: PledgeRequest,
                 now: datetime) -> HouseholdFunding:
    """A household's pledges for items of the current plan: a resident (owner or co-owner) for their household,
    staff for any household from a signed paper pledge. Each replaces the household's earlier pledge for the
    item; without an amount it is "my share" (its share as it stands whenever read); 0 withdraws. 409 once the
    item is dropped, or funded (but an opt-in to an ``opted_in`` item is always taken)."""
    plan, project, scope = await plan_and_project(session, plan_id)
    manager = is_manager(authorize(principal, "funding.pledge", scope))
    household = await _pledging_household(session, principal, manager=manager, project=project,
                                          household_id=body.household_id)
    seen: set[str] = set()
    dupes = []
    for i, it in enumerate(body.items):
        if it.item_id in seen:
            dupes.append({"loc": ["body", "items", i, "item_id"], "msg": "listed twice"})
        seen.add(it.item_id)
    if dupes:
        raise Invalid("funding.duplicate_item", "同一项目只能认缴一次", "An item is listed twice", errors=dupes)
    led = await _sync(session, project, principal, now)
    require_current(plan, led)
    found: list[Line] = []
    errors: list[dict[str, Any]] = []
    for i, it in enumerate(body.items):
        ln = led.line_for(it.item_id, dropped_too=True)
        if ln is None:
            errors.append({"loc": ["body", "items", i, "item_id"], "msg": "no item with a residents' share of this id"})
        else:
            found.append(ln)
    if errors:
        raise unknown_items(errors)
    split = await lines.splits(session, led, [ln for ln in found if ln.item is not None])
    for i, ln in enumerate(found):
        if ln.item is not None and not split[ln.key].in_scope(household.id):
            raise out_of_scope(["body", "items", i, "item_id"], ln)
    for it, ln in zip(body.items, found, strict=True):
        _pledgeable(ln, household_id=household.id, amount_fen=it.amount_fen)
    channel = PledgeChannel.PAPER if manager else PledgeChannel.ONLINE
    recorded: list[tuple[Line, FundingPledge, FundingPledge | None]] = []
    for it, ln in zip(body.items, found, strict=True):
        p, before = await _upsert_pledge(session, ln=ln, household_id=household.id, amount_fen=it.amount_fen,
                                         channel=channel, questionnaire_id=None, actor_id=principal.user_id, now=now)
        recorded.append((ln, p, before))
    now_led = await lines.load(session, project_id=project.id, community_id=project.community_id)
    for ln, p, before in recorded:
        after = now_led.line_for(ln.item_id)
        assert after is not None
        await audit.append(session, chain=project.community_id, action="funding.pledged", entity_type="funding_line",
                           entity_id=p.line_id, actor_id=principal.user_id, at=now,
                           data={"project_id": project.id, "item_id": ln.item_id, "household_id": household.id,
                                 "amount_fen": p.amount_fen, "follows_share": p.amount_fen is None,
                                 "counts_fen": now_led.pledge_of(after, household.id),
                                 "previous_fen": before.amount_fen if before is not None else 0,
                                 "channel": channel.value, "version": p.version})
    led = await _sync(session, project, principal, now)
    return await household_funding(session, led, household)


async def pledges_from_questionnaire(session: AsyncSession, *, principal: Principal, plan_id: str,
                                     body: PledgesFromQuestionnaire, now: datetime) -> QuestionnairePledges:
    """Staff: every positive answer to the amount question of a closed contribution questionnaire becomes the
    household's pledge for one item, in one step (households outside the item's scope, and — unless
    ``replace`` — households that already pledged for it, are skipped and listed). Audited as one entry that
    lists every pledge."""
    plan, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    answers = await surveys_service.amount_answers(session, questionnaire_id=body.questionnaire_id, now=now)
    if answers is None or answers.project_id != project.id:
        raise Invalid("funding.questionnaire_not_found", "本项目没有该问卷", "No such questionnaire in this project",
                      errors=[{"loc": ["body", "questionnaire_id"], "msg": "not a questionnaire of this project"}])
    if answers.kind != "contribution":
        raise Invalid("funding.not_contribution", "只能从出资意愿问卷生成认缴", "Not a contribution questionnaire",
                      errors=[{"loc": ["body", "questionnaire_id"], "msg": f"a {answers.kind} questionnaire"}])
    ids = [qid for qid, _ in answers.questions]
    if body.question_id is not None:
        if body.question_id not in ids:
            raise Invalid("funding.unknown_question", "问卷中没有该金额题", "No such amount question",
                          errors=[{"loc": ["body", "question_id"], "msg": "not an amount question of it"}])
        question_id = body.question_id
    elif len(ids) == 1:
        question_id = ids[0]
    else:
        raise Invalid("funding.question_required", "请指定金额题（question_id）",
                      "Name the amount question (question_id)" if ids else "The questionnaire has no amount question",
                      errors=[{"loc": ["body", "question_id"], "msg": "required" if ids else "no amount question"}])
    if answers.status != "closed":
        raise Conflict("funding.questionnaire_open", f"问卷“{answers.title}”尚未结束，答案仍可修改",
                       "The questionnaire is not closed yet; its answers may still change",
                       questionnaire_status=answers.status)
    led = await _sync(session, project, principal, now)
    require_current(plan, led)
    ln = line_or_422(led, body.item_id, loc=["body", "item_id"], dropped_too=True)
    if ln.item is None:
        raise item_dropped(ln)
    if ln.status is LineStatus.FUNDED:
        raise item_funded(ln)
    assert ln.line_id is not None
    split = (await lines.splits(session, led, [ln]))[ln.key]
    created = replaced = 0
    skipped: list[SkippedHousehold] = []
    recorded: list[dict[str, Any]] = []
    for a in answers.answers:
        if a.question_id != question_id:
            continue
        reason = ("zero" if a.amount_fen <= 0 else "out_of_scope" if not split.in_scope(a.household_id)
                  else "already_pledged" if a.household_id in ln.standing and not body.replace else None)
        if reason is not None:
            skipped.append(SkippedHousehold(household_id=a.household_id, reason=reason))
            continue
        _, was = await _upsert_pledge(session, ln=ln, household_id=a.household_id, amount_fen=a.amount_fen,
                                      channel=PledgeChannel.QUESTIONNAIRE, questionnaire_id=answers.questionnaire_id,
                                      actor_id=principal.user_id, now=now)
        if a.household_id in ln.standing:
            replaced += 1
        else:
            created += 1
        recorded.append({"household_id": a.household_id, "amount_fen": a.amount_fen,
                         "previous_fen": was.amount_fen if was is not None else 0})
    await audit.append(session, chain=project.community_id, action="funding.pledges_imported",
                       entity_type="funding_line", entity_id=ln.line_id, actor_id=principal.user_id, at=now,
                       data={"project_id": project.id, "item_id": ln.item_id,
                             "questionnaire_id": answers.questionnaire_id, "question_id": question_id,
                             "pledges": recorded, "skipped": [s.model_dump() for s in skipped]})
    led = await _sync(session, project, principal, now)
    after = led.line_for(ln.item_id)
    assert after is not None
    return QuestionnairePledges(questionnaire_id=answers.questionnaire_id, question_id=question_id,
                                item=line_state(after), created=created, replaced=replaced, skipped=skipped)


def _not_in_future(day: Any, now: datetime, field_name: str) -> None:
    today = business_date(now)
    if day > today:
        raise Invalid("funding.date_in_future", f"日期不能晚于今天（{today.isoformat()}）",
                      f"The date is after today ({today.isoformat()}, Asia/Shanghai)",
                      errors=[{"loc": ["body", field_name], "msg": "after today (Asia/Shanghai)"}])


async def _receipt_free(session: AsyncSession, project: Project, kind: PaymentKind, receipt_no: str | None) -> None:
    if receipt_no is not None and await repo.receipt_taken(session, project.id, kind.value, receipt_no):
        raise Conflict("funding.receipt_taken", f"票据号 {receipt_no} 已登记过",
                       f"Receipt number {receipt_no} is already recorded", receipt_no=receipt_no)


async def _record(session: AsyncSession, *, principal: Principal, project: Project, ln: Line, household_id: str,
                  kind: PaymentKind, amount_fen: int, day: Any, method: str, receipt_no: str | None, note: str | None,
                  now: datetime, over_share: dict[str, int] | None = None) -> PaymentRecorded:
    assert ln.line_id is not None
    p = FundingPayment(project_id=project.id, line_id=ln.line_id, household_id=household_id, kind=kind.value,
                       amount_fen=amount_fen, paid_on=day, method=method, receipt_no=receipt_no, note=note,
                       actor_id=principal.user_id, created_at=now)
    session.add(p)
    await session.flush()
    await audit.append(session, chain=project.community_id,
                       action="funding.collected" if kind is PaymentKind.COLLECTION else "funding.refunded",
                       entity_type="funding_payment", entity_id=p.id, actor_id=principal.user_id, at=now,
                       data={"project_id": project.id, "line_id": ln.line_id, "item_id": ln.item_id,
                             "household_id": household_id, "amount_fen": amount_fen, "date": day.isoformat(),
                             "method": method, "receipt_no": receipt_no, "note": note}
                       | ({"over_share": over_share} if over_share is not None else {}))
    led = await _sync(session, project, principal, now)
    after = led.line_for(ln.item_id, dropped_too=True)
    assert after is not None
    return PaymentRecorded(payment=payment_public(p, ln.item_id), item=line_state(after))


async def _freeze(session: AsyncSession, *, project: Project, principal: Principal, ln: Line,
                  households: list[PlacedHousehold], now: datetime, reason: str | None,
                  before: Split | None = None) -> None:
    """Store ``households`` (with their areas now) as ``ln``'s roll, frozen now; audited ``funding.shares_frozen``
    (the first collection) or, with a ``reason``, ``funding.shares_recomputed`` with each changed share."""
    assert ln.row is not None
    await repo.replace_roll(session, ln.row.id, [(h.id, h.area_centi) for h in households])
    ln.row.roll_frozen_at = now
    session.add(ln.row)
    after = lines.split_among(ln, households, ln.opted)
    data: dict[str, Any] = {"project_id": project.id, "item_id": ln.item_id, "split": ln.split.value,
                            "residents_share_fen": ln.share_fen, "households": len(households),
                            "area_centi": sum(h.area_centi for h in households)}
    if before is None:
        data["shares"] = [{"household_id": h.id, "area_centi": h.area_centi, "share_fen": after.share_of(h.id)}
                          for h in households]
        action = "funding.shares_frozen"
    else:
        paid: dict[str, int] = {}
        for p in await repo.payments_of(session, project.id):
            if p.line_id == ln.row.id:
                paid[p.household_id] = paid.get(p.household_id, 0) + (p.amount_fen if p.kind == "collection"
                                                                        else -p.amount_fen)
        ids = sorted(before.ids | after.ids)
        data |= {"reason": reason, "households_before": len(before.households), "changed": [
            {"household_id": hid, "before_fen": before.share_of(hid), "after_fen": after.share_of(hid),
             "paid_fen": paid.get(hid, 0)}
            for hid in ids if before.share_of(hid) != after.share_of(hid)]}
        action = "funding.shares_recomputed"
    await audit.append(session, chain=project.community_id, action=action, entity_type="funding_line",
                       entity_id=ln.row.id, actor_id=principal.user_id, at=now, data=data)
    await session.flush()


async def record_collection(session: AsyncSession, *, principal: Principal, plan_id: str, body: CollectionIn,
                            now: datetime) -> PaymentRecorded:
    """Staff: money received from a household for an item of the current plan (the household in the item's
    scope: 422 otherwise; a dropped item: 409; a receipt number already recorded: 409). The household's
    payments may not exceed its share unless the body says ``over_share`` (422 ``funding.over_collected``).
    The item's first collection freezes the households its share is split among (see :mod:`app.funding.lines`)."""
    plan, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    _not_in_future(body.received_on, now, "received_on")
    led = await _sync(session, project, principal, now)
    require_current(plan, led)
    ln = line_or_422(led, body.item_id, loc=["body", "item_id"], dropped_too=True)
    if ln.item is None:
        raise item_dropped(ln)
    split = (await lines.splits(session, led, [ln]))[ln.key]
    if not split.in_scope(body.household_id):
        raise out_of_scope(["body", "household_id"], ln)
    assert ln.line_id is not None
    paid = await repo.paid_by(session, ln.line_id, body.household_id)
    net = paid.get(PaymentKind.COLLECTION, 0) - paid.get(PaymentKind.REFUND, 0)
    share = split.share_of(body.household_id) or 0
    over = net + body.amount_fen > share
    if over and not body.over_share:
        raise over_collected(ln, share_fen=share, paid_fen=net, amount_fen=body.amount_fen,
                             opted_in=ln.split is not SplitRule.OPTED_IN or body.household_id in ln.standing)
    await _receipt_free(session, project, PaymentKind.COLLECTION, body.receipt_no)
    if ln.frozen_at is None:
        await _freeze(session, project=project, principal=principal, ln=ln, households=split.households, now=now,
                      reason=None)
    return await _record(session, principal=principal, project=project, ln=ln, household_id=body.household_id,
                         kind=PaymentKind.COLLECTION, amount_fen=body.amount_fen, day=body.received_on,
                         method=body.method.value, receipt_no=body.receipt_no, note=body.note, now=now,
                         over_share={"share_fen": share, "paid_before_fen": net} if over else None)


async def record_refund(session: AsyncSession, *, principal: Principal, plan_id: str, body: RefundIn,
                        now: datetime) -> PaymentRecorded:
    """Staff: money paid back to a household for an item — of the current plan, or dropped — up to what the
    household has paid for it, net (422 ``funding.refund_exceeds_paid`` beyond that)."""
    plan, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    _not_in_future(body.refunded_on, now, "refunded_on")
    led = await _sync(session, project, principal, now)
    require_current(plan, led)
    ln = line_or_422(led, body.item_id, loc=["body", "item_id"], dropped_too=True)
    paid = await repo.paid_by(session, ln.line_id, body.household_id) if ln.line_id else {}
    net = paid.get(PaymentKind.COLLECTION, 0) - paid.get(PaymentKind.REFUND, 0)
    if body.amount_fen > net:
        raise Invalid("funding.refund_exceeds_paid",
                      f"退款金额超过该户为“{ln.title}”已缴的 {yuan_text(net)} 元",
                      f"The refund exceeds what the household paid for the item ({net} fen, net)",
                      errors=[{"loc": ["body", "amount_fen"], "msg": f"at most {net}"}], paid_fen=net)
    await _receipt_free(session, project, PaymentKind.REFUND, body.receipt_no)
    return await _record(session, principal=principal, project=project, ln=ln, household_id=body.household_id,
                         kind=PaymentKind.REFUND, amount_fen=body.amount_fen, day=body.refunded_on,
                         method=body.method.value, receipt_no=body.receipt_no, note=body.reason, now=now)


async def set_split(session: AsyncSession, *, principal: Principal, plan_id: str, body: SplitRequest,
                    now: datetime) -> FundingView:
    """Staff: how items' residents' shares are split (by area, equally, among those who opt in) — fixed once
    anyone has pledged or paid for the item (409 ``funding.split_locked``) — and, with ``recompute_shares`` and a
    reason, the households an item's share is split among taken again from the register (its roll froze at its
    first collection; 409 ``funding.shares_not_frozen`` before that, when the shares follow the register anyway)."""
    plan, project, scope = await plan_and_project(session, plan_id)
    authorize(principal, "funding.manage", scope)
    empty = [{"loc": ["body", "items", i], "msg": "neither split nor recompute_shares"}
             for i, it in enumerate(body.items) if it.split is None and not it.recompute_shares]
    if empty:
        raise Invalid("funding.nothing_to_change", "请指定分摊方式（split）或重新核定应缴金额（recompute_shares）",
                      "Give a split or recompute_shares", errors=empty)
    if body.reason is None and any(it.recompute_shares for it in body.items):
        raise Invalid("funding.reason_required", "重新核定应缴金额须说明理由（reason）",
                      "Recomputing shares needs a reason", errors=[{"loc": ["body", "reason"], "msg": "required"}])
    led = await _sync(session, project, principal, now)
    require_current(plan, led)
    found: list[Line] = []
    errors: list[dict[str, Any]] = []
    for i, it in enumerate(body.items):
        ln = led.line_for(it.item_id, dropped_too=True)
        if ln is None or any(x is ln for x in found):
            errors.append({"loc": ["body", "items", i, "item_id"],
                           "msg": "listed twice" if ln is not None else "no item with a residents' share of this id"})
        else:
            found.append(ln)
    if errors:
        raise unknown_items(errors)
    for it, ln in zip(body.items, found, strict=True):
        if ln.item is None:
            raise item_dropped(ln)
        assert ln.row is not None
        if it.split is not None and ln.split is not it.split and await repo.has_entries(session, ln.row.id):
            raise Conflict("funding.split_locked", f"“{ln.title}”已有住户认缴或缴款，分摊方式不能再改",
                           "Households have pledged or paid for the item; its split is fixed", item_id=ln.item_id)
        if it.recompute_shares and ln.frozen_at is None:
            raise Conflict("funding.shares_not_frozen",
                           f"“{ln.title}”尚未收款，各户应缴金额随房屋登记自动更新，无需重新核定",
                           "The item has no collection yet: its shares follow the register", item_id=ln.item_id)
    for it, ln in zip(body.items, found, strict=True):
        assert ln.row is not None
        if it.split is None or ln.split is it.split:
            continue
        before = ln.row.split
        ln.row.split = it.split.value
        session.add(ln.row)
        await audit.append(session, chain=project.community_id, action="funding.split_set",
                           entity_type="funding_line", entity_id=ln.row.id, actor_id=principal.user_id, at=now,
                           data={"project_id": project.id, "item_id": ln.item_id, "from": before,
                                 "to": it.split.value})
    recompute = [ln for it, ln in zip(body.items, found, strict=True) if it.recompute_shares]
    if recompute:
        old = await lines.splits(session, led, recompute)
        for ln in recompute:
            fresh = await register_service.households_in_scope(
                session, community_id=project.community_id,
                building_id=ln.building_id if ln.scope != "community" else None,
                unit_id=ln.unit_id if ln.scope == "unit" else None)
            await _freeze(session, project=project, principal=principal, ln=ln, households=fresh, now=now,
                          reason=body.reason, before=old[ln.key])
    await _sync(session, project, principal, now)
    return await funding_view(session, principal=principal, plan_id=plan_id, now=now)
