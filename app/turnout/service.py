"""Turnout: who has not answered yet, reminders through the outbox, live progress, notice reads.

Thresholds count ALL households in scope, so the committee needs to know where to knock next: progress
per building and unit with each threshold condition's distance, the list (and printable sheet) of
households that have not answered, and reminders to those a WeChat message can reach.

Reminders: at most one per household per item per Asia/Shanghai day (DB-enforced, ``reminder_day``); a
WeChat subscribe message goes to every owner/co-owner of the household who is bound to WeChat, has not
opted out and has an unused one-time subscription for the template (:mod:`app.turnout.grants`: one grant, one
message, used in the transaction that queues it; households skipped for want of one are counted as
``skipped.no_grant``); a household none of whose owners can be reached "needs a visit". Messages are written to the
outbox in the same transaction as the reminder and delivered by the worker (``worker.run_outbox_once``).
Automatic reminders (when an item opens, and ``reminder_before_close_working_days`` working days before it
closes) are queued by :func:`schedule_due_reminders`, once per (item, reason), between 09:00 and 20:00.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, Scope, authorize
from app.core import audit
from app.core.db import new_id
from app.core.errors import Conflict, Forbidden
from app.core.privacy import mask_name, mask_phone
from app.core.units import format_area
from app.rules import SHANGHAI, Rule, business_date, evaluate, is_working_day, percent_text
from app.rules.thresholds import NO_PARTICIPANTS, OUT_OF_REACH
from app.turnout import grants as grants_mod
from app.turnout import items as items_mod
from app.turnout import repository as repo
from app.turnout import sheet
from app.turnout.grants import record_subscriptions as record_subscriptions  # the route's door
from app.turnout.items import Item
from app.turnout.models import ItemType, OutboxStatus, ReminderReason
from app.turnout.repository import AreaCount
from app.turnout.schemas import (
    AreaShare,
    BuildingGroup,
    BuildingProgress,
    ConditionProgress,
    ItemScope,
    MemberContact,
    NonResponder,
    NonResponders,
    NoticeReadRecorded,
    NoticeReads,
    OptOutMember,
    OptOutState,
    OutboxCounts,
    Progress,
    ReadBuilding,
    ReadUnit,
    ReminderResult,
    ReminderRunResult,
    ReminderSkipped,
    ReminderState,
    RuleProgress,
    Share,
    UnitGroup,
    UnitProgress,
)

# automatic reminders are queued only in daytime (Asia/Shanghai)
AUTO_FROM = time(9, 0)
AUTO_UNTIL = time(20, 0)
THING_MAX = 20  # WeChat "thing" template values: at most 20 characters

_NUM = re.compile(r"(\d+)")


def natural_key(*, text: str) -> list[Any]:
    """"2" before "10" (楼栋/单元/房号 are numbers written as text)."""
    return [int(p) if p.isdigit() else p for p in _NUM.split(text)]


def percent(*, a: int, b: int) -> str:
    """Display only: a/b as a percentage with one decimal, rounded half up, in integers."""
    return f"{percent_text(a, b, decimals=1) or '0.0'}%"


def share(*, a: int, b: int) -> Share:
    return Share(answered=a, total=b, share=f"{a}/{b}", percent=percent(a=a, b=b))


def area_share(*, a: int, b: int) -> AreaShare:
    return AreaShare(answered_m2=format_area(a), total_m2=format_area(b), share=f"{format_area(a)}/{format_area(b)}",
                     percent=percent(a=a, b=b))


def _cut(text: str, n: int = THING_MAX) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ---- items ---------------------------------------------------------------------------------------

async def _item_for(session: AsyncSession, *, principal: Principal, item_type: ItemType, item_id: str,
                    permission: str, now: datetime) -> Item:
    item = await items_mod.load_item(session, item_type=item_type, item_id=item_id, now=now)
    authorize(principal, permission, item.scope)
    return item


def _item_scope(item: Item) -> ItemScope:
    return ItemScope(kind=item.scope_kind, building_id=item.building_id, unit_id=item.unit_id)


# ---- progress ------------------------------------------------------------------------------------

def _group_units(rows: list[AreaCount]) -> list[BuildingProgress]:
    by_building: dict[str, list[AreaCount]] = defaultdict(list)
    for r in rows:
        by_building[r.building_id].append(r)
    out: list[BuildingProgress] = []
    for units in by_building.values():
        units.sort(key=lambda r: natural_key(text=r.unit))
        first = units[0]
        out.append(BuildingProgress(
            building_id=first.building_id, building=first.building,
            households=share(a=sum(u.answered_households for u in units), b=sum(u.households for u in units)),
            area=area_share(a=sum(u.answered_area for u in units), b=sum(u.area for u in units)),
            units=[UnitProgress(unit_id=u.unit_id, unit=u.unit, households=share(a=u.answered_households, b=u.households),
                                area=area_share(a=u.answered_area, b=u.area)) for u in units]))
    out.sort(key=lambda b: natural_key(text=b.building))
    return out


def _display(value: int, unit: str) -> str:
    return format_area(value) if unit == "area" else str(value)


def _hint(c: Any, fewest: int | None) -> str:
    if c.met:
        return "已达到"
    verb = "参与表决" if c.name.startswith("participation") else "同意"
    if c.shortfall_reason == NO_PARTICIPANTS:
        return "尚无人参与表决，暂无同意比例"
    if c.shortfall is None:
        return f"即使其余住户全部{verb}也无法达到"
    if c.unit == "households":
        return f"还需 {c.shortfall} 户{verb}"
    if c.unit == "owners":
        return f"还需 {c.shortfall} 位业主{verb}"
    more = f"（至少 {fewest} 户/位业主）" if fewest else ""
    return f"还需 {format_area(c.shortfall)} m² 专有面积{verb}{more}"


async def _rule_progress(session: AsyncSession, item: Item) -> RuleProgress | None:
    if item.rule_spec is None or item.counts is None:
        return None
    rule = Rule.from_dict(item.rule_spec)
    counts = await item.counts(session)
    result = evaluate(rule, counts, window_open=item.status != "closed")
    conditions: list[ConditionProgress] = []
    for c in result.conditions:
        fewest = None
        if c.unit == "area" and not c.met and c.shortfall:
            fewest = await repo.fewest_to_cover(session, item.population, c.shortfall,
                                                by_owner=item.population.owner_grouping)
        conditions.append(ConditionProgress(
            name=c.name, label_zh=c.label_zh, unit=c.unit, numerator=c.numerator, denominator=c.denominator,
            numerator_display=_display(c.numerator, c.unit), denominator_display=_display(c.denominator, c.unit),
            required=f"{c.required.numerator}/{c.required.denominator}", inclusive=c.inclusive, met=c.met,
            shortfall=c.shortfall, shortfall_reason=c.shortfall_reason, reachable=c.shortfall_reason != OUT_OF_REACH,
            shortfall_households=c.shortfall if c.unit == "households" else None,
            shortfall_owners=c.shortfall if c.unit == "owners" else fewest,
            shortfall_area_m2=format_area(c.shortfall) if c.unit == "area" and c.shortfall is not None else None,
            hint_zh=_hint(c, fewest)))
    return RuleProgress(rule=rule.to_dict(), description_zh=rule.describe_zh(), outcome=result.outcome.value,
                        decided_early=result.decided_early, conditions=conditions)


async def progress(session: AsyncSession, *, principal: Principal, item_type: ItemType, item_id: str,
                   now: datetime) -> Progress:
    """Staff: answered / in scope by households, owners and area, per building and unit, and the distance of
    every threshold condition (no household's answer is shown)."""
    item = await _item_for(session, principal=principal, item_type=item_type, item_id=item_id,
                           permission="turnout.view", now=now)
    pop = item.population
    units = await repo.counts_by_unit(session, pop)
    owners_total, owners_answered = await repo.owner_totals(session, pop)
    outbox = await repo.outbox_counts(session, item_type=item.type.value, item_id=item.id)
    reminded = await repo.count_reminded_on(session, item_type=item.type.value, item_id=item.id,
                                            day=business_date(now))
    return Progress(
        item_type=item.type.value, item_id=item.id, title=item.title, status=item.status, opens_at=item.opens_at,
        closes_at=item.closes_at, scope=_item_scope(item),
        households=share(a=sum(u.answered_households for u in units), b=sum(u.households for u in units)),
        owners=share(a=owners_answered, b=owners_total),
        area=area_share(a=sum(u.answered_area for u in units), b=sum(u.area for u in units)),
        buildings=_group_units(units), rule=await _rule_progress(session, item),
        reminders=ReminderState(reminded_today=reminded, messages=OutboxCounts(**outbox)), as_of=now)


# ---- non-responders ------------------------------------------------------------------------------

@dataclass(frozen=True)
class OpenTurnout:
    """An open motion or questionnaire as a public screen shows it: answered / in scope by households and by
    area (0.01 m²) — the same numbers as :func:`progress` — and never a choice, a count per option or a
    household."""

    item_type: str  # motion | questionnaire
    title: str
    kind: str | None  # questionnaire kind, motion matter
    scope_kind: str  # community | building | unit
    scope_zh: str  # "全小区", "1号楼", "1号楼2单元"
    closes_at: datetime | None
    households_answered: int
    households_total: int
    area_answered: int
    area_total: int
    households: Share
    area: AreaShare


def _scope_zh(item: Item, units: list[AreaCount]) -> str:
    def b(name: str) -> str:
        return f"{name}号楼" if name.isdigit() else name

    def u(name: str) -> str:
        return f"{name}单元" if name.isdigit() else name

    if item.scope_kind == "building":
        return b(units[0].building) if units else "本楼"
    if item.scope_kind == "unit":
        return b(units[0].building) + u(units[0].unit) if units else "本单元"
    return "全小区"


async def community_turnout(session: AsyncSession, *, community_id: str, now: datetime) -> list[OpenTurnout]:
    """Every motion and questionnaire of the community open at ``now``, with its turnout (motions first, then
    questionnaires, each the deadline soonest first). No authorization: the caller decides who sees it."""
    out = []
    for item in await items_mod.open_items(session, now=now, community_id=community_id):
        units = await repo.counts_by_unit(session, item.population)
        hn, ht = sum(x.answered_households for x in units), sum(x.households for x in units)
        an, at = sum(x.answered_area for x in units), sum(x.area for x in units)
        out.append(OpenTurnout(item_type=item.type.value, title=item.title, kind=item.kind, scope_kind=item.scope_kind,
                               scope_zh=_scope_zh(item, units), closes_at=item.closes_at, households_answered=hn,
                               households_total=ht, area_answered=an, area_total=at, households=share(a=hn, b=ht),
                               area=area_share(a=an, b=at)))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda t: (t.item_type != ItemType.MOTION.value, t.closes_at or far, t.title))
    return out


async def non_responders(session: AsyncSession, *, principal: Principal, item_type: ItemType, item_id: str,
                         now: datetime, building_id: str | None = None, unit_id: str | None = None) -> NonResponders:
    """Staff: the households in scope that have not answered, by building and unit, with room, area and the
    members' masked contacts; ``needs_visit`` when no reminder can reach them."""
    item = await _item_for(session, principal=principal, item_type=item_type, item_id=item_id,
                           permission="turnout.view", now=now)
    pop = item.population
    units = await repo.counts_by_unit(session, pop)
    rows = await repo.non_responders(session, pop, building_id=building_id, unit_id=unit_id)
    members: dict[str, list[MemberContact]] = defaultdict(list)
    for m in await repo.members_of_non_responders(session, pop):
        members[m.household_id].append(MemberContact(name=mask_name(m.name), relation=m.relation,
                                                     phone=mask_phone(m.phone), wechat_bound=m.wechat_bound,
                                                     opted_out=m.opted_out))
    reminded = await repo.reminded_on(session, item_type=item.type.value, item_id=item.id, day=business_date(now))
    tree: dict[tuple[str, str], dict[tuple[str, str], list[NonResponder]]] = defaultdict(lambda: defaultdict(list))
    needs_visit = 0
    for r in rows:
        reason = None if r.reachable else ("opted_out" if r.bound else "no_wechat")
        needs_visit += reason is not None
        tree[(r.building_id, r.building)][(r.unit_id, r.unit)].append(NonResponder(
            household_id=r.household_id, room=r.room, area_m2=format_area(r.area), needs_visit=reason is not None,
            visit_reason=reason, reminded_today=r.household_id in reminded, members=members.get(r.household_id, [])))
    buildings = []
    for (bid, bname), unit_map in sorted(tree.items(), key=lambda kv: natural_key(text=kv[0][1])):
        groups = []
        for (uid, uname), hs in sorted(unit_map.items(), key=lambda kv: natural_key(text=kv[0][1])):
            hs.sort(key=lambda h: natural_key(text=h.room))
            groups.append(UnitGroup(unit_id=uid, unit=uname, households=hs))
        buildings.append(BuildingGroup(building_id=bid, building=bname, units=groups))
    total = sum(u.households for u in units)
    answered = sum(u.answered_households for u in units)
    return NonResponders(item_type=item.type.value, item_id=item.id, title=item.title, status=item.status,
                         households_in_scope=total, answered=answered, non_responders=len(rows),
                         needs_visit=needs_visit, buildings=buildings, as_of=now)


async def non_responders_sheet(session: AsyncSession, *, principal: Principal, item_type: ItemType, item_id: str,
                               now: datetime, building_id: str | None = None,
                               unit_id: str | None = None) -> tuple[bytes, str, str]:
    """The door-to-door sheet as XLSX bytes (built in a thread), with its ASCII and UTF-8 file names."""
    data = await non_responders(session, principal=principal, item_type=item_type, item_id=item_id, now=now,
                                building_id=building_id, unit_id=unit_id)
    local = now.astimezone(SHANGHAI)
    content = await asyncio.to_thread(sheet.render, data, generated_zh=f"生成于 {local:%Y-%m-%d %H:%M}。")
    day = f"{local:%Y%m%d}"
    return content, f"door-to-door-{item_type.value}-{day}.xlsx", f"入户走访表-{_cut(data.title, 40)}-{day}.xlsx"


# ---- reminders -----------------------------------------------------------------------------------

def _deadline_zh(closes_at: datetime | None) -> str:
    if closes_at is None:
        return "请尽快参与"
    local = closes_at.astimezone(SHANGHAI)
    if local.time() == time(0):
        local -= timedelta(minutes=1)  # 24:00 of the last day reads as 23:59 of that day
    return f"{local:%Y年%m月%d日 %H:%M}"


def reminder_payload(*, item: Item, reason: ReminderReason) -> dict[str, Any]:
    """The subscribe message (template data keys thing1/time2/thing3) and the mini-program page."""
    if item.type is ItemType.MOTION:
        page, text = f"pages/motion/detail?id={item.id}", "您家尚未表决，请在截止前参与表决"
    else:
        page, text = f"pages/questionnaire/detail?id={item.id}", "您家尚未填写问卷，请在截止前填写"
    if reason is ReminderReason.OPENED:
        text = "表决已开始，欢迎参与" if item.type is ItemType.MOTION else "问卷已开始，欢迎填写"
    return {
        "page": page,
        "data": {"thing1": {"value": _cut(item.title)}, "time2": {"value": _deadline_zh(item.closes_at)},
                 "thing3": {"value": _cut(text)}},
        "expires_at": item.closes_at.isoformat() if item.closes_at else None,
        "reason": reason.value,
        "template_id": grants_mod.subscribe_templates()[0],
    }


async def queue_reminders(session: AsyncSession, *, item: Item, now: datetime, reason: ReminderReason,
                          actor_id: str | None) -> ReminderResult:
    """Queue a reminder for every non-responding household a WeChat message can reach and that has not been
    reminded of this item today (Asia/Shanghai); outbox rows are written in this same transaction."""
    pop = item.population
    day = business_date(now)
    n, bound, _ = await repo.non_responder_reach(session, pop)
    recipients: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for hid, uid, openid in await repo.reminder_recipients(session, pop):
        recipients[hid].append((uid, openid))
    payload = reminder_payload(item=item, reason=reason)
    template_id = grants_mod.template_of(payload)
    already = await repo.reminded_on(session, item_type=item.type.value, item_id=item.id, day=day)
    granted = await repo.users_with_grant(session, template_id=template_id,
                                          user_ids=[u for rs in recipients.values() for u, _ in rs])
    wanted = [hid for hid, rs in recipients.items() if hid not in already and any(u in granted for u, _ in rs)]
    claimed = await repo.claim_reminder_days(session, [
        {"id": new_id(), "item_type": item.type.value, "item_id": item.id, "household_id": hid, "day": day,
         "reason": reason.value, "messages": sum(u in granted for u, _ in recipients[hid]), "created_at": now,
         "created_by": actor_id} for hid in wanted])
    # one grant, one message: a user reached through two households uses a grant for each
    messages: list[dict[str, Any]] = []
    pending = [(hid, uid, openid) for hid in sorted(claimed) for uid, openid in recipients[hid] if uid in granted]
    while pending:
        first: dict[str, tuple[str, str]] = {}
        later = []
        for hid, uid, openid in pending:
            if uid in first:
                later.append((hid, uid, openid))
            else:
                first[uid] = (hid, openid)
        used = await grants_mod.use_grants(session, template_id=template_id, user_ids=list(first), now=now)
        messages += [{"id": new_id(), "channel": "wechat_subscribe", "community_id": item.community_id,
                      "item_type": item.type.value, "item_id": item.id, "household_id": hid, "user_id": uid,
                      "recipient": openid, "payload": payload, "status": OutboxStatus.PENDING.value,
                      "attempts": 0, "next_attempt_at": now, "created_at": now}
                     for uid, (hid, openid) in first.items() if uid in used]
        pending = [p for p in later if p[1] in used]
    messages.sort(key=lambda m: (m["household_id"], m["user_id"]))
    await repo.add_outbox(session, messages)
    reached = {m["household_id"] for m in messages}
    reachable = len(recipients)
    already_today = sum(1 for hid in recipients if hid in already) + sum(1 for hid in wanted if hid not in claimed)
    return ReminderResult(
        item_type=item.type.value, item_id=item.id, reason=reason.value, day=day, non_responders=n,
        queued_households=len(reached), queued_messages=len(messages),
        skipped=ReminderSkipped(already_reminded_today=already_today, opted_out=max(bound - reachable, 0),
                                no_wechat=max(n - bound, 0), no_grant=reachable - already_today - len(reached)),
        needs_visit=max(n - reachable, 0))


async def send_reminders(session: AsyncSession, *, principal: Principal, item_type: ItemType, item_id: str,
                         now: datetime) -> ReminderResult:
    """Staff remind the non-responders of an open item (409 ``reminder.not_open`` otherwise)."""
    item = await _item_for(session, principal=principal, item_type=item_type, item_id=item_id,
                           permission="reminder.send", now=now)
    if not item.is_open:
        raise Conflict("reminder.not_open", "该事项未在进行中（未开始或已截止），不能发送提醒",
                       "Reminders only while it is open (not before it opens, not after it closes)",
                       status_now=item.status)
    result = await queue_reminders(session, item=item, now=now, reason=ReminderReason.MANUAL,
                                   actor_id=principal.user_id)
    await _audit_reminder(session, item=item, result=result, actor_id=principal.user_id, now=now)
    return result


async def _audit_reminder(session: AsyncSession, *, item: Item, result: ReminderResult, actor_id: str | None,
                          now: datetime) -> None:
    await audit.append(session, chain=item.community_id, action="reminder.queued", entity_type=item.type.value,
                       entity_id=item.id, actor_id=actor_id, at=now,
                       data={"reason": result.reason, "day": result.day.isoformat(),
                             "households": result.queued_households, "messages": result.queued_messages,
                             "needs_visit": result.needs_visit, "no_grant": result.skipped.no_grant})


def closing_reminder_day(*, closes_at: datetime, working_days: int) -> date:
    """The day the "closing soon" reminder is due: ``working_days`` working days before the last day of the
    window (0: on the last day). The last day is the Shanghai date with time left before ``closes_at``."""
    last = business_date(closes_at - timedelta(microseconds=1))
    day, counted = last, 0
    while counted < working_days:
        day -= timedelta(days=1)
        if is_working_day(day).working:
            counted += 1
    return day


async def schedule_due_reminders(session: AsyncSession, *, now: datetime) -> int:
    """Queue the automatic reminders that are due: when an item opens, and
    ``profile.reminder_before_close_working_days`` working days before it closes; each at most once per
    (item, reason), only between 09:00 and 20:00 Asia/Shanghai. Returns the number of messages queued.
    Never commits (the caller does)."""
    local = now.astimezone(SHANGHAI).time()
    if not AUTO_FROM <= local < AUTO_UNTIL:
        return 0
    from app.register.service import profile_of

    open_now = await items_mod.open_items(session, now=now)
    done: set[tuple[str, str, str]] = set()
    for t in ItemType:
        ids = [i.id for i in open_now if i.type is t]
        done |= {(t.value, i, r) for i, r in await repo.auto_reminders_done(session, item_type=t.value, item_ids=ids)}
    lead_days: dict[str, int] = {}
    queued = 0
    today = business_date(now)
    for item in open_now:
        due: list[ReminderReason] = []
        if (item.type.value, item.id, ReminderReason.OPENED.value) not in done:
            due.append(ReminderReason.OPENED)
        if item.closes_at is not None and (item.type.value, item.id, ReminderReason.CLOSING.value) not in done:
            if item.jurisdiction_id not in lead_days:
                lead_days[item.jurisdiction_id] = (await profile_of(session, jurisdiction_id=item.jurisdiction_id))[1] \
                    .reminder_before_close_working_days
            if today >= closing_reminder_day(closes_at=item.closes_at, working_days=lead_days[item.jurisdiction_id]):
                due.append(ReminderReason.CLOSING)
        for reason in due:
            marker = await repo.claim_auto_reminder(session, item_type=item.type.value, item_id=item.id,
                                                    reason=reason.value, now=now)
            if marker is None:
                continue
            result = await queue_reminders(session, item=item, now=now, reason=reason, actor_id=None)
            await repo.set_auto_reminder_counts(session, marker, households=result.queued_households,
                                                messages=result.queued_messages)
            await _audit_reminder(session, item=item, result=result, actor_id=None, now=now)
            queued += result.queued_messages
    return queued


async def run_due_reminders(session: AsyncSession, *, principal: Principal, now: datetime) -> ReminderRunResult:
    """Global admin: queue the automatic reminders that are due, now."""
    if not principal.is_global_admin:
        raise Forbidden()
    return ReminderRunResult(queued_messages=await schedule_due_reminders(session, now=now))


# ---- opt-outs ------------------------------------------------------------------------------------

async def _household_scope(session: AsyncSession, household_id: str) -> Scope:
    from app.register.service import community_scope, household_or_404

    h = await household_or_404(session, household_id=household_id)
    return await community_scope(session, community_id=h.community_id)


def _member_of(principal: Principal, household_id: str) -> None:
    if not any(h.household_id == household_id for h in principal.households):
        raise Forbidden("reminder.not_member", "只有本户成员可以设置提醒", "Only members of the household may do this")


async def _opt_out_state(session: AsyncSession, *, principal: Principal, household_id: str) -> OptOutState:
    members = await repo.household_reminder_members(session, household_id)
    from app.auth.models import ACTING_RELATIONS

    return OptOutState(
        household_id=household_id,
        opt_out=any(o for u, _, _, _, o in members if u == principal.user_id),
        receives_reminders=any(b and not o and r in ACTING_RELATIONS for _, _, r, b, o in members),
        members=[OptOutMember(name=mask_name(n) if u != principal.user_id else n, relation=r, wechat_bound=b,
                              opt_out=o, is_me=u == principal.user_id) for u, n, r, b, o in members])


async def get_opt_out(session: AsyncSession, *, principal: Principal, household_id: str) -> OptOutState:
    authorize(principal, "community.view", await _household_scope(session, household_id))
    _member_of(principal, household_id)
    return await _opt_out_state(session, principal=principal, household_id=household_id)


async def set_opt_out(session: AsyncSession, *, principal: Principal, household_id: str, opt_out: bool,
                      now: datetime) -> OptOutState:
    """A member turns reminders for this household off (or on again) for themself; the household gets no
    WeChat reminder once every owner/co-owner bound to WeChat has opted out."""
    scope = await _household_scope(session, household_id)
    authorize(principal, "community.view", scope)
    _member_of(principal, household_id)
    await repo.set_opt_out(session, household_id=household_id, user_id=principal.user_id, opt_out=opt_out, now=now)
    assert scope.community_id is not None
    await audit.append(session, chain=scope.community_id, action="reminder.opt_out_set", entity_type="household",
                       entity_id=household_id, actor_id=principal.user_id, at=now, data={"opt_out": opt_out})
    return await _opt_out_state(session, principal=principal, household_id=household_id)


# ---- notice reads --------------------------------------------------------------------------------

async def _notice_and_scope(session: AsyncSession, principal: Principal, notice_id: str) -> tuple[Any, Scope]:
    from app.projects.service import member_scope
    from app.publicity.service import notice_or_404

    n = await notice_or_404(session, notice_id=notice_id)
    scope = await member_scope(session, principal=principal, jurisdiction_id=n.jurisdiction_id, community_id=n.community_id,
                               project_id=n.project_id)
    return n, scope


async def record_notice_read(session: AsyncSession, *, notice_id: str, principal: Principal,
                             now: datetime) -> NoticeReadRecorded:
    """Record that the caller's households in the notice's community have seen it (first read kept;
    idempotent). Anyone else who may see the notice (staff, supervisors) is let through without a record."""
    n, scope = await _notice_and_scope(session, principal, notice_id)
    authorize(principal, "notice.view", scope)
    mine = sorted({h.household_id for h in principal.households_in(n.community_id)})
    rows = [{"id": new_id(), "notice_id": n.id, "household_id": hid, "community_id": n.community_id,
             "user_id": principal.user_id, "read_at": now} for hid in mine]
    new = await repo.record_reads(session, rows)
    return NoticeReadRecorded(notice_id=n.id, households=mine, newly_recorded=len(new))


async def notice_reads(session: AsyncSession, *, principal: Principal, notice_id: str) -> NoticeReads:
    """Staff: households that have seen the notice / households in the community, per building and unit."""
    n, _ = await _notice_and_scope(session, principal, notice_id)
    authorize(principal, "turnout.view",
              Scope(jurisdiction_id=n.jurisdiction_id, community_id=n.community_id, project_id=n.project_id))
    rows = await repo.read_counts_by_unit(session, notice_id=n.id, community_id=n.community_id)
    buildings = []
    for b in _group_units(rows):
        buildings.append(ReadBuilding(building_id=b.building_id, building=b.building, households=b.households,
                                      units=[ReadUnit(unit_id=u.unit_id, unit=u.unit, households=u.households)
                                             for u in b.units]))
    return NoticeReads(notice_id=n.id, households=share(a=sum(r.answered_households for r in rows),
                                                        b=sum(r.households for r in rows)), buildings=buildings)

