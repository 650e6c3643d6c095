"""Community eligibility: built on or before the profile's cutoff date (inclusive)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EligibilityResult:
    """Whether a community may start a project, and why (in Chinese)."""

    eligible: bool
    reason_zh: str
    cutoff: date | None


def is_eligible(built_date: date | None, cutoff: date | None) -> bool:
    """Built on or before `cutoff`; no cutoff → eligible; unknown built date → not eligible."""
    if cutoff is None:
        return True
    if built_date is None:
        return False
    return built_date <= cutoff


def check_eligibility(built_date: date | None, cutoff: date | None) -> EligibilityResult:
    """`is_eligible` with a reason."""
    if cutoff is None:
        return EligibilityResult(True, "本辖区未设建成年代限制", None)
    if built_date is None:
        return EligibilityResult(False, f"未登记建成日期，无法确认是否于 {cutoff.isoformat()} 前（含当日）建成", cutoff)
    if built_date <= cutoff:
        reason = f"建成日期 {built_date.isoformat()} 不晚于 {cutoff.isoformat()}，符合改造条件"
        return EligibilityResult(True, reason, cutoff)
    reason = f"建成日期 {built_date.isoformat()} 晚于 {cutoff.isoformat()}，不在改造范围内"
    return EligibilityResult(False, reason, cutoff)
