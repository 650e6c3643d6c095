"""Voting thresholds (表决规则) and tallies in exact integer arithmetic.

Civil Code art. 1259: "以上" includes the number itself (≥); "过半数" (more than half) is strict (>).
Every comparison is an integer cross-multiplication; no float ever decides an outcome.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from fractions import Fraction
from typing import Any


class RuleKind(StrEnum):
    """How a motion or questionnaire is decided."""

    SHARE_OF_ALL_HOUSEHOLDS = "share_of_all_households"
    CIVIL_CODE_MAJOR = "civil_code_major"
    CIVIL_CODE_ORDINARY = "civil_code_ordinary"
    MAJORITY_OF_PARTICIPANTS = "majority_of_participants"


class Choice(StrEnum):
    """One household's (owner's) ballot."""

    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"


class Outcome(StrEnum):
    """Result of a tally."""

    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"


CIVIL_CODE_KINDS = frozenset({RuleKind.CIVIL_CODE_MAJOR, RuleKind.CIVIL_CODE_ORDINARY})

# ---- exact fractions ----------------------------------------------------------------------------

_FRACTION_RE = re.compile(r"\s*(\d{1,9})\s*(?:/\s*(\d{1,9})\s*)?")


def parse_fraction(value: str | Fraction | int) -> Fraction:
    """Parse "2/3" (or "1", or a Fraction) into a Fraction in (0, 1]; ValueError otherwise."""
    match value:
        case bool():
            raise ValueError(f"a fraction must be written like \"2/3\", got {value!r}")
        case str():
            parts = _FRACTION_RE.fullmatch(value)
            if parts is None:
                raise ValueError(f"a fraction must be written like \"2/3\", got {value!r}")
            numerator, denominator = int(parts.group(1)), int(parts.group(2) or 1)
            if denominator == 0:
                raise ValueError(f"fraction {value!r} has a zero denominator")
            result = Fraction(numerator, denominator)
        case Fraction() | int():
            result = Fraction(value)
        case _:
            raise ValueError(f"a fraction must be written like \"2/3\", got {value!r}")
    if not 0 < result <= 1:
        raise ValueError(f"fraction must be greater than 0 and at most 1, got {fraction_str(result)}")
    return result


def fraction_str(value: Fraction) -> str:
    """JSON form of a fraction: always "p/q" (e.g. "1/1", "2/3")."""
    return f"{value.numerator}/{value.denominator}"


def meets(numerator: int, denominator: int, required: Fraction, inclusive: bool) -> bool:
    """numerator/denominator ≥ required (inclusive) or > required (strict), by integer cross-multiplication.

    An empty base (denominator 0) never meets a threshold, so nothing passes on zero households.
    """
    if numerator < 0 or denominator < 0:
        raise ValueError("counts must be non-negative")
    if denominator == 0:
        return False
    lhs = numerator * required.denominator
    rhs = denominator * required.numerator
    return lhs >= rhs if inclusive else lhs > rhs


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def shortfall_fixed(numerator: int, denominator: int, required: Fraction, inclusive: bool,
                    available: int) -> int | None:
    """Smallest k ≥ 0 with (numerator + k)/denominator meeting `required` (the denominator stays fixed).

    None when k would exceed `available` (those not yet counted) or the denominator is 0.
    """
    if denominator == 0:
        return None
    gap = denominator * required.numerator - numerator * required.denominator
    q = required.denominator
    k = _ceil_div(gap, q) if inclusive else gap // q + 1
    k = max(k, 0)
    return k if k <= available else None


def shortfall_growing(numerator: int, denominator: int, required: Fraction, inclusive: bool,
                      available: int) -> int | None:
    """Smallest k ≥ 0 with (numerator + k)/(denominator + k) meeting `required`.

    This is how an agree-of-participants ratio moves when k more participants come in, all agreeing.
    None when no k ≤ `available` suffices.
    """
    p, q = required.numerator, required.denominator
    gap = denominator * p - numerator * q  # need k * (q - p) ≥ gap (inclusive) or > gap (strict)
    if p == q:
        k: int | None = 0 if (gap <= 0 if inclusive else gap < 0) else None
    elif inclusive:
        k = max(_ceil_div(gap, q - p), 0)
    else:
        k = max(gap // (q - p) + 1, 0)
    if k is not None and denominator + k == 0:
        k = 1  # an empty base never meets a threshold: at least one participant is needed
    if k is None or k > available:
        return None
    return k


# ---- Chinese wording ------------------------------------------------------------------------------

_ZH_DIGITS = "零一二三四五六七八九"


def _zh_int(n: int) -> str:
    """Chinese numeral for 0–99 (Arabic digits beyond)."""
    if n < 10:
        return _ZH_DIGITS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + ("" if ones == 0 else _ZH_DIGITS[ones])
    return str(n)


def _zh_share(value: Fraction, inclusive: bool) -> str:
    """"三分之二以上", "过半数", "超过五分之三", "全部"."""
    if value == Fraction(1, 2) and not inclusive:
        return "过半数"
    if value == 1 and inclusive:
        return "全部"
    words = f"{_zh_int(value.denominator)}分之{_zh_int(value.numerator)}"
    return f"{words}以上" if inclusive else f"超过{words}"


# ---- rules ----------------------------------------------------------------------------------------

_RULE_KEYS = frozenset({"kind", "threshold", "inclusive", "participation"})
_INFORMATIONAL_KEYS = frozenset({"description_zh", "legal_source"})


@dataclass(frozen=True)
class Rule:
    """A threshold rule. `threshold` is the agree fraction; `participation` applies to civil-code kinds only."""

    kind: RuleKind
    threshold: Fraction
    inclusive: bool
    participation: Fraction | None = None

    def __post_init__(self) -> None:
        try:
            kind = RuleKind(self.kind)
        except ValueError:
            raise ValueError(
                f"unknown rule kind {self.kind!r}; expected one of {', '.join(k.value for k in RuleKind)}"
            ) from None
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "threshold", parse_fraction(self.threshold))
        if self.inclusive is not True and self.inclusive is not False:
            raise ValueError("inclusive must be true (以上, ≥) or false (超过/过半数, >)")
        if self.threshold == 1 and not self.inclusive:
            raise ValueError("a strict threshold of 1/1 can never be met")
        if kind in CIVIL_CODE_KINDS:
            if self.participation is None:
                raise ValueError(f"{kind.value} needs a participation fraction (e.g. \"2/3\")")
            object.__setattr__(self, "participation", parse_fraction(self.participation))
        elif self.participation is not None:
            raise ValueError(f"{kind.value} takes no participation fraction")

    @classmethod
    def default(cls, kind: RuleKind | str) -> Rule:
        """The statutory / seed default for a kind."""
        kind = RuleKind(kind)
        if kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
            return cls(kind, Fraction(2, 3), True)
        if kind is RuleKind.CIVIL_CODE_MAJOR:
            return cls(kind, Fraction(3, 4), True, Fraction(2, 3))
        if kind is RuleKind.CIVIL_CODE_ORDINARY:
            return cls(kind, Fraction(1, 2), False, Fraction(2, 3))
        return cls(kind, Fraction(1, 2), False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build from the JSON form; missing threshold/inclusive/participation take the kind's defaults."""
        kind = data.get("kind") if isinstance(data, Mapping) else None
        if kind is None:
            raise ValueError("a rule must be a JSON object with a \"kind\"")
        unknown = set(data) - _RULE_KEYS - _INFORMATIONAL_KEYS
        if unknown:
            raise ValueError(f"unknown rule field(s): {', '.join(sorted(map(str, unknown)))}")
        if not isinstance(kind, str) or kind not in {k.value for k in RuleKind}:
            raise ValueError(
                f"unknown rule kind {kind!r}; expected one of {', '.join(k.value for k in RuleKind)}"
            )
        base = cls.default(kind)
        threshold = data.get("threshold")
        inclusive = data.get("inclusive")
        participation = data.get("participation", base.participation)
        if participation is None and base.participation is not None:
            participation = base.participation
        return cls(
            kind=base.kind,
            threshold=base.threshold if threshold is None else parse_fraction(threshold),
            inclusive=base.inclusive if inclusive is None else inclusive,
            participation=participation,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, fractions as "p/q" strings."""
        return {
            "kind": self.kind.value,
            "threshold": fraction_str(self.threshold),
            "inclusive": self.inclusive,
            "participation": None if self.participation is None else fraction_str(self.participation),
        }

    def describe_zh(self) -> str:
        """Short Chinese description, e.g. "总户数三分之二以上同意"."""
        agree = _zh_share(self.threshold, self.inclusive)
        if self.kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
            return f"总户数{agree}同意"
        if self.kind is RuleKind.MAJORITY_OF_PARTICIPANTS:
            return f"参与表决户数{agree}同意"
        assert self.participation is not None
        part = _zh_share(self.participation, True)
        return (f"专有部分面积{part}且人数{part}的业主参与表决，"
                f"经参与表决专有部分面积{agree}且人数{agree}的业主同意")

    @property
    def legal_source(self) -> str:
        """Where the rule comes from."""
        if self.kind is RuleKind.CIVIL_CODE_MAJOR:
            return "《民法典》第二百七十八条（第六项至第八项事项）"
        if self.kind is RuleKind.CIVIL_CODE_ORDINARY:
            return "《民法典》第二百七十八条（其他共同决定事项）"
        if self.kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
            return "崂山区实施方案：项目涉及总户数的三分之二以上认可"
        return "青岛市：多数居民同意"


# ---- counts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Aggregates for one motion or questionnaire. Owners are a headcount; areas are integer 0.01 m²."""

    total_households: int
    total_owners: int
    total_area: int
    agree_households: int = 0
    agree_owners: int = 0
    agree_area: int = 0
    disagree_households: int = 0
    disagree_owners: int = 0
    disagree_area: int = 0
    abstain_households: int = 0
    abstain_owners: int = 0
    abstain_area: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{f.name} must be a non-negative integer, got {value!r}")
        for what in ("households", "owners", "area"):
            voted = getattr(self, f"participating_{what}")
            total = getattr(self, f"total_{what}")
            if voted > total:
                raise ValueError(f"agree + disagree + abstain {what} ({voted}) exceed the total ({total})")

    @property
    def participating_households(self) -> int:
        return self.agree_households + self.disagree_households + self.abstain_households

    @property
    def participating_owners(self) -> int:
        return self.agree_owners + self.disagree_owners + self.abstain_owners

    @property
    def participating_area(self) -> int:
        return self.agree_area + self.disagree_area + self.abstain_area

    @property
    def remaining_households(self) -> int:
        return self.total_households - self.participating_households

    @property
    def remaining_owners(self) -> int:
        return self.total_owners - self.participating_owners

    @property
    def remaining_area(self) -> int:
        return self.total_area - self.participating_area

    def with_remaining(self, choice: Choice | None) -> Counts:
        """These counts if everyone not yet counted chose `choice` (None: nobody else takes part)."""
        if choice is None:
            return self
        prefix = Choice(choice).value
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values[f"{prefix}_households"] += self.remaining_households
        values[f"{prefix}_owners"] += self.remaining_owners
        values[f"{prefix}_area"] += self.remaining_area
        return Counts(**values)

    def to_dict(self) -> dict[str, int]:
        """All fields plus the participating and remaining totals."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for what in ("households", "owners", "area"):
            out[f"participating_{what}"] = getattr(self, f"participating_{what}")
            out[f"remaining_{what}"] = getattr(self, f"remaining_{what}")
        return out


@dataclass(frozen=True)
class Voter:
    """A household in scope: its owner key (shared keys are one owner) and exclusive area in 0.01 m²."""

    household_id: str
    owner_key: str
    area: int

    def __post_init__(self) -> None:
        if not isinstance(self.household_id, str) or not self.household_id:
            raise ValueError("household_id must be a non-empty string")
        if not isinstance(self.owner_key, str) or not self.owner_key:
            raise ValueError("owner_key must be a non-empty string")
        if isinstance(self.area, bool) or not isinstance(self.area, int) or self.area < 0:
            raise ValueError(f"area must be a non-negative integer (0.01 m²), got {self.area!r}")


def count_electorate(voters: Iterable[Voter], ballots: Mapping[str, Choice]) -> Counts:
    """Reference count of an electorate (the households in scope) and its ballots (household_id → choice).

    Headcount is distinct owner keys; area is summed. An owner has ONE choice for all their households in
    scope: the ballot of their household with the smallest household_id (string order) among those that
    voted. That choice counts all their households and area and the owner once. Households whose owner
    cast no ballot do not participate; ballots for households not in `voters` are ignored (out of scope).
    """
    by_owner: dict[str, list[Voter]] = {}
    seen: set[str] = set()
    for voter in voters:
        if voter.household_id in seen:
            raise ValueError(f"household {voter.household_id!r} listed twice")
        seen.add(voter.household_id)
        by_owner.setdefault(voter.owner_key, []).append(voter)

    totals = {"households": 0, "owners": 0, "area": 0}
    per_choice = {choice: {"households": 0, "owners": 0, "area": 0} for choice in Choice}
    for households in by_owner.values():
        area = sum(h.area for h in households)
        totals["households"] += len(households)
        totals["owners"] += 1
        totals["area"] += area
        voted = sorted(h.household_id for h in households if h.household_id in ballots)
        if not voted:
            continue
        choice = Choice(ballots[voted[0]])
        per_choice[choice]["households"] += len(households)
        per_choice[choice]["owners"] += 1
        per_choice[choice]["area"] += area

    values = {f"total_{k}": v for k, v in totals.items()}
    for choice, sums in per_choice.items():
        values.update({f"{choice.value}_{k}": v for k, v in sums.items()})
    return Counts(**values)


# ---- tally --------------------------------------------------------------------------------------


NO_PARTICIPANTS = "no_participants"
OUT_OF_REACH = "out_of_reach"


@dataclass(frozen=True)
class Condition:
    """One condition of a tally with its numbers.

    `shortfall` is the smallest amount (in `unit`: households, owners, or area in 0.01 m²) still needed
    from those not yet counted: for participation and share-of-all conditions the denominator is fixed;
    for agree-of-participants conditions each addition is a new participant who agrees (numerator and
    denominator both grow). 0 when met. For area it is a lower bound, since area comes in whole households.

    When it is None, `shortfall_reason` says why: ``"no_participants"`` for an agree-of-participants
    condition while nobody has taken part (a share of no one has no distance: any one agreeing participant
    would meet it, which says nothing about the matter), ``"out_of_reach"`` when it cannot be met even if
    all not yet counted took part and agreed (or nobody is in scope).
    """

    name: str
    label_zh: str
    numerator: int
    denominator: int
    required: Fraction
    inclusive: bool
    met: bool
    shortfall: int | None
    unit: str
    shortfall_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form, `required` as "p/q"."""
        return {
            "name": self.name,
            "label_zh": self.label_zh,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "required": fraction_str(self.required),
            "inclusive": self.inclusive,
            "met": self.met,
            "shortfall": self.shortfall,
            "shortfall_reason": self.shortfall_reason,
            "unit": self.unit,
        }


def _fixed(name: str, label: str, unit: str, num: int, den: int, required: Fraction, inclusive: bool,
           available: int) -> Condition:
    k = shortfall_fixed(num, den, required, inclusive, available)
    return Condition(name, label, num, den, required, inclusive, meets(num, den, required, inclusive), k, unit,
                     None if k is not None else OUT_OF_REACH)


def _growing(name: str, label: str, unit: str, num: int, den: int, required: Fraction, inclusive: bool,
             available: int) -> Condition:
    """An agree-of-participants condition; with no participant yet its shortfall is None (no_participants)."""
    met = meets(num, den, required, inclusive)
    if den == 0:
        return Condition(name, label, num, den, required, inclusive, met, None, unit,
                         NO_PARTICIPANTS if available > 0 else OUT_OF_REACH)
    k = shortfall_growing(num, den, required, inclusive, available)
    return Condition(name, label, num, den, required, inclusive, met, k, unit, None if k is not None else OUT_OF_REACH)


def conditions_for(rule: Rule, counts: Counts) -> tuple[Condition, ...]:
    """Every condition the rule sets, evaluated on `counts`."""
    c = counts
    t, inc = rule.threshold, rule.inclusive
    if rule.kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
        return (_fixed("agree_households", "同意户数 / 总户数", "households", c.agree_households,
                       c.total_households, t, inc, c.remaining_households),)
    if rule.kind is RuleKind.MAJORITY_OF_PARTICIPANTS:
        return (_growing("agree_households", "同意户数 / 参与表决户数", "households", c.agree_households,
                         c.participating_households, t, inc, c.remaining_households),)
    part = rule.participation
    assert part is not None
    return (
        _fixed("participation_area", "参与表决专有部分面积 / 总专有部分面积", "area", c.participating_area,
               c.total_area, part, True, c.remaining_area),
        _fixed("participation_headcount", "参与表决人数 / 业主总人数", "owners", c.participating_owners,
               c.total_owners, part, True, c.remaining_owners),
        _growing("agree_area", "同意专有部分面积 / 参与表决专有部分面积", "area", c.agree_area,
                 c.participating_area, t, inc, c.remaining_area),
        _growing("agree_headcount", "同意人数 / 参与表决人数", "owners", c.agree_owners,
                 c.participating_owners, t, inc, c.remaining_owners),
    )


def _holds(conditions: tuple[Condition, ...], counts: Counts) -> bool:
    """All conditions met, with at least one participating household (never a pass on zero)."""
    return counts.total_households > 0 and counts.participating_households > 0 and all(
        cond.met for cond in conditions)


def passes(rule: Rule, counts: Counts) -> bool:
    """Whether `counts` as they stand satisfy the rule."""
    return _holds(conditions_for(rule, counts), counts)


@dataclass(frozen=True)
class TallyResult:
    """A tally: every condition with its numbers, and the outcome."""

    rule: Rule
    counts: Counts
    conditions: tuple[Condition, ...]
    outcome: Outcome
    decided_early: bool
    window_open: bool

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rule": self.rule.to_dict() | {"description_zh": self.rule.describe_zh(),
                                           "legal_source": self.rule.legal_source},
            "counts": self.counts.to_dict(),
            "conditions": [cond.to_dict() for cond in self.conditions],
            "outcome": self.outcome.value,
            "decided_early": self.decided_early,
            "window_open": self.window_open,
        }


def evaluate(rule: Rule, counts: Counts, *, window_open: bool) -> TallyResult:
    """Tally `counts` under `rule`.

    Window closed: passed or failed on the counts. Window open: the best case (everyone not yet counted
    agrees) and the worst cases (they stay away; they all disagree) are compared; if they agree, that is
    the outcome with decided_early=True, otherwise pending. Every condition is monotone, so these extremes
    bound every completion. Ballots already cast are taken as they stand; a cast ballot can still be
    replaced until close, so decided_early is a live indicator and the tally at close is authoritative.
    """
    conditions = conditions_for(rule, counts)
    holds_now = _holds(conditions, counts)
    if not window_open:
        outcome = Outcome.PASSED if holds_now else Outcome.FAILED
        return TallyResult(rule, counts, conditions, outcome, False, False)
    best = passes(rule, counts.with_remaining(Choice.AGREE))
    worst = holds_now and passes(rule, counts.with_remaining(Choice.DISAGREE))
    if best == worst:
        outcome = Outcome.PASSED if best else Outcome.FAILED
        return TallyResult(rule, counts, conditions, outcome, True, True)
    return TallyResult(rule, counts, conditions, Outcome.PENDING, False, True)
