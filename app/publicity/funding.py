"""The funding notice (资金公示, 阳光操作): its text, generated from what funding discloses of the project's
current plan (:func:`app.funding.service.disclosure`) — the budget and every funding source, per item with a
residents' share the share, how it is split, what was pledged and collected and its status, the items a
revision dropped, and each household's amounts (room and area only, never a name or a phone) only where the
rules profile's ``funding_disclose_households`` allows it. Staff publish it as a notice of kind ``funding``
with no body (``POST /projects/{id}/notices``); its window is checked like any notice's."""

from __future__ import annotations

from app.funding.service import DisclosedItem, FundingDisclosure
from app.publicity.service import _building, _unit
from app.rules.shares import yuan_text


def _money(fen: int) -> str:
    return f"{yuan_text(fen)} 元"


def _scope(it: DisclosedItem) -> str:
    if it.scope == "building" and it.building:
        return _building(it.building)
    if it.scope == "unit" and it.building and it.unit:
        return f"{_building(it.building)}{_unit(it.unit)}"
    return {"building": "楼栋", "unit": "单元"}.get(it.scope, "全小区")


def _item_lines(i: int, it: DisclosedItem) -> list[str]:
    out = [f"  {i}. {it.title}（{_scope(it)}）"]
    money = []
    if it.budget_fen is not None:
        money.append(f"预算 {_money(it.budget_fen)}")
    if it.sources:
        money.append("资金来源：" + "、".join(f"{s.label_zh} {_money(s.amount_fen)}" for s in it.sources))
    if money:
        out.append("     " + "；".join(money))
    out.append(f"     居民出资 {_money(it.residents_share_fen)}，{it.split_zh}；已认缴 {_money(it.pledged_fen)}"
               f"（{it.pledges} 户），已收缴 {_money(it.collected_fen)}；按{it.counts_zh}计尚差 "
               f"{_money(it.short_fen)}；状态：{it.status_zh}")
    if it.households is not None:
        out.append("     分户明细（房号、面积、应缴、认缴、已缴）：")
        for h in it.households:
            share = "待定" if h.share_fen is None else _money(h.share_fen)
            out.append(f"       {_building(h.building)}{_unit(h.unit)}{h.room}  {h.area_m2} m²  应缴 {share}  "
                       f"认缴 {_money(h.pledged_fen)}  已缴 {_money(h.paid_fen)}")
    return out


def funding_notice_body(d: FundingDisclosure) -> str:
    """The notice text (every item and, where allowed, every household however many)."""
    lines = [f"资金公示：{d.plan_title}（第 {d.plan_version} 版）",
             f"总预算：{_money(d.budget_fen)}"]
    if d.by_source:
        lines.append("资金来源：" + "；".join(f"{s.label_zh} {_money(s.amount_fen)}" for s in d.by_source))
    if d.items:
        lines.append(f"需居民出资的改造项目（共 {len(d.items)} 项）：")
        for i, it in enumerate(d.items, 1):
            lines += _item_lines(i, it)
    else:
        lines.append("本方案没有需居民出资的改造项目。")
    lines.append(f"居民出资合计：应筹 {_money(d.residents_share_fen)}，已认缴 {_money(d.pledged_fen)}，"
                 f"已收缴 {_money(d.collected_fen)}。")
    if d.unallocated_residents_fen:
        lines.append(f"另有方案整体列支的居民出资 {_money(d.unallocated_residents_fen)} 未落到具体项目，须修订方案后筹集。")
    if d.dropped:
        lines.append("方案修订后不再列入的项目（已缴款项按原渠道退还）：")
        lines += [f"  {i}. {it.title}：已收缴 {_money(it.collected_fen)}" for i, it in enumerate(d.dropped, 1)]
    if not d.disclose_households and d.items:
        lines.append("按本地规则，本公示只列各项目的汇总金额；各户可在小程序中查看本户应缴、认缴和缴款记录。")
    lines.append("如对上述资金安排或金额有异议，请在公示期内提出。")
    return "\n".join(lines)
