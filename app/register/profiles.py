"""Rules profiles: every place-dependent rule is a field here, never a constant in code.

Rule specs are stored as the rules engine's JSON form (``{"kind": ..., "threshold": "2/3", ...}``).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RuleSpec = dict[str, Any]


def _rule(kind: str, threshold: str, inclusive: bool, participation: str | None = None) -> RuleSpec:
    return {"kind": kind, "threshold": threshold, "inclusive": inclusive, "participation": participation}


CIVIL_MAJOR = _rule("civil_code_major", "3/4", True, "2/3")
CIVIL_ORDINARY = _rule("civil_code_ordinary", "1/2", False, "2/3")
ALL_TWO_THIRDS = _rule("share_of_all_households", "2/3", True)
MOST_PARTICIPANTS = _rule("majority_of_participants", "1/2", False)

# matters a motion can decide, each with a default rule kind
MATTERS = ("renovation_plan", "elevator", "maintenance_fund_raise", "maintenance_fund_use", "ordinary",
           "plan_item")


class RulesProfile(BaseModel):
    """A jurisdiction's rules (one version of them)."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(default=None, max_length=40)
    label: str = Field(default="", max_length=100)
    eligibility_cutoff: date | None = Field(
        default=None, description="communities built on or before this date are eligible; null: any")
    publicity_working_days: int = Field(default=5, ge=1, le=60)
    willingness_rule: RuleSpec = Field(default_factory=lambda: dict(MOST_PARTICIPANTS))
    content_rule: RuleSpec | None = Field(
        default=None, description="rule each wanted catalog item must meet in the needs survey")
    matter_rules: dict[str, RuleSpec] = Field(default_factory=lambda: {
        "renovation_plan": dict(CIVIL_MAJOR),
        "elevator": dict(CIVIL_MAJOR),
        "maintenance_fund_raise": dict(CIVIL_MAJOR),
        "maintenance_fund_use": dict(CIVIL_ORDINARY),
        "ordinary": dict(CIVIL_ORDINARY),
        "plan_item": dict(MOST_PARTICIPANTS),
    })
    catalog: Literal["linyi", "qingdao"] = "linyi"
    acceptance_representatives_min: int = Field(default=3, ge=1, le=50)
    warranty_months: int = Field(default=24, ge=0, le=600)
    max_members_per_household: int = Field(default=6, ge=1, le=50)
    staff_see_choices: bool = Field(default=False, description="whether staff may see each household's choice")
    reminder_before_close_working_days: int = Field(default=1, ge=0, le=10)
    survey_month: int | None = Field(default=None, ge=1, le=12)
    # residents' share of plan items (app/funding): an item is funded once what was collected — or, where the
    # profile says so, pledged — covers its residents' share (fixed per item when the plan first lists it); the
    # split rule a new item starts with; whether the funding notice may list each household's amounts
    residents_funded_when: Literal["collected", "pledged"] = Field(
        default="collected", description="an item's residents' share is covered by what is collected, or pledged")
    residents_split_default: Literal["by_area", "equal", "opted_in"] = Field(
        default="by_area", description="how a new item's residents' share is split among households")
    funding_disclose_households: bool = Field(
        default=False, description="whether the funding notice lists each household's share, pledge and payment")
    # quality supervision (app/supervision): rectification deadlines by severity in working days, counted from
    # the day after assignment; the warning before the due date; the same-spot distance of after-photos; the
    # number of reopenings that flags a report for the street office
    rectification_days_critical: int = Field(default=3, ge=1, le=60, description="整改期限, critical (working days)")
    rectification_days_major: int = Field(default=7, ge=1, le=60, description="整改期限, major (working days)")
    rectification_days_minor: int = Field(default=15, ge=1, le=60, description="整改期限, minor (working days)")
    rectification_warning_working_days: int = Field(
        default=1, ge=0, le=10, description="the assignee is warned this many working days before the due date")
    same_spot_distance_m: int = Field(
        default=50, ge=1, le=10000, description="after-photos farther than this from the report: location_unverified")
    reopen_flag_at: int = Field(default=2, ge=1, le=20,
                                description="a report reopened this many times is flagged for the street office")
    # paper ballots (app/voting): double entry by two different clerks before a paper ballot counts; how many
    # households one proxy (委托) may vote for in one motion
    paper_double_entry: bool = Field(
        default=False, description="a paper ballot counts only once two different clerks entered the same choice")
    proxy_max_households: int = Field(
        default=3, ge=1, le=50, description="households one proxy (委托代理人) may vote for in one motion")

    @field_validator("willingness_rule", "content_rule")
    @classmethod
    def _check_rule(cls, v: RuleSpec | None) -> RuleSpec | None:
        if v is None:
            return v
        return validate_rule_spec(v)

    @field_validator("matter_rules")
    @classmethod
    def _check_matters(cls, v: dict[str, RuleSpec]) -> dict[str, RuleSpec]:
        unknown = set(v) - set(MATTERS)
        if unknown:
            raise ValueError(f"unknown matters: {sorted(unknown)}")
        return {k: validate_rule_spec(r) for k, r in v.items()}

    def rectification_days(self, severity: str) -> int:
        """The deadline in working days for a report of ``severity`` (critical, major, minor)."""
        return {"critical": self.rectification_days_critical, "major": self.rectification_days_major,
                "minor": self.rectification_days_minor}[severity]

    def rule_for(self, matter: str) -> RuleSpec:
        return self.matter_rules.get(matter) or self.matter_rules.get("ordinary") or dict(CIVIL_ORDINARY)


def validate_rule_spec(v: RuleSpec) -> RuleSpec:
    from app.rules import Rule

    try:
        return Rule.from_dict(v).to_dict()
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"invalid rule: {exc}") from exc


PRESETS: dict[str, dict[str, Any]] = {
    "zhoucun": {"label": "淄博市周村区", "eligibility_cutoff": date(2005, 12, 31), "publicity_working_days": 5,
                "catalog": "linyi", "survey_month": 9},
    "linyi": {"label": "临沂市", "eligibility_cutoff": date(2005, 12, 31), "publicity_working_days": 5,
              "catalog": "linyi"},
    "anqiu": {"label": "安丘市", "eligibility_cutoff": None, "publicity_working_days": 5, "catalog": "linyi",
              "residents_funded_when": "collected"},  # 居民自筹资金齐全的前提下实施
    "zhanhe": {"label": "平顶山市湛河区", "eligibility_cutoff": date(1999, 12, 31), "publicity_working_days": 5,
               "catalog": "linyi"},
    "laoshan": {"label": "青岛市崂山区", "eligibility_cutoff": date(2005, 12, 31), "publicity_working_days": 5,
                "catalog": "qingdao", "willingness_rule": dict(ALL_TWO_THIRDS),
                "content_rule": dict(ALL_TWO_THIRDS)},
}


def preset_profile(*, name: str) -> RulesProfile:
    if name not in PRESETS:
        raise KeyError(name)
    return RulesProfile(preset=name, **PRESETS[name])
