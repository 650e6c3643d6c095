"""Strategies and an independent reference recount for the rules-engine tests."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from hypothesis import strategies as st

from app.rules import Choice, Rule, RuleKind, Voter

CHOICES_OR_NONE: list[Choice | None] = [None, Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN]
BALLOT_POOLS: list[list[Choice | None]] = [
    CHOICES_OR_NONE,
    [None, Choice.AGREE, Choice.AGREE, Choice.AGREE],
    [None, None, Choice.AGREE, Choice.DISAGREE],
    [None, Choice.AGREE, Choice.AGREE, Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN],
]


@st.composite
def fractions_in_unit(draw: st.DrawFn, max_den: int = 6) -> Fraction:
    den = draw(st.integers(1, max_den))
    return Fraction(draw(st.integers(1, den)), den)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    """The four defaults, or any valid custom rule."""
    kind = draw(st.sampled_from(list(RuleKind)))
    if draw(st.booleans()):
        return Rule.default(kind)
    threshold = draw(fractions_in_unit())
    inclusive = True if threshold == 1 else draw(st.booleans())
    participation = draw(fractions_in_unit()) if kind in (RuleKind.CIVIL_CODE_MAJOR,
                                                          RuleKind.CIVIL_CODE_ORDINARY) else None
    return Rule(kind, threshold, inclusive, participation)


def low_threshold_civil_rules() -> st.SearchStrategy[Rule]:
    """Civil-code rules whose agree threshold is below the participation bar: participation is then the
    binding condition, which the early-decision logic must not overlook."""
    return st.builds(
        Rule,
        st.sampled_from([RuleKind.CIVIL_CODE_MAJOR, RuleKind.CIVIL_CODE_ORDINARY]),
        st.sampled_from([Fraction(1, 3), Fraction(1, 2), Fraction(3, 5)]),
        st.booleans(),
        st.sampled_from([Fraction(2, 3), Fraction(3, 4), Fraction(4, 5)]),
    )


@st.composite
def electorates(draw: st.DrawFn, max_households: int = 6,
                max_owners: int = 6) -> tuple[list[Voter], dict[str, Choice]]:
    """Up to `max_households` households over a few owner keys, each with a ballot or none."""
    n = draw(st.integers(0, max_households))
    owner_pool = draw(st.integers(1, max_owners))
    voters = [
        Voter(f"h{i}", f"o{draw(st.integers(0, owner_pool - 1))}",
              draw(st.one_of(st.integers(0, 20_000), st.sampled_from([100, 5_000, 12_345]))))
        for i in range(n)
    ]
    pool = draw(st.sampled_from(BALLOT_POOLS))  # vary turnout and mood from example to example
    ballots: dict[str, Choice] = {}
    for v in voters:
        choice = draw(st.sampled_from(pool))
        if choice is not None:
            ballots[v.household_id] = choice
    return voters, ballots


@dataclass(frozen=True)
class Recount:
    """Totals recomputed household by household, without the engine."""

    households: int
    owners: int
    area: int
    part_households: int
    part_owners: int
    part_area: int
    yes_households: int
    yes_owners: int
    yes_area: int


def owner_choice(voters: list[Voter], ballots: dict[str, Choice], owner: str) -> Choice | None:
    """The ballot of the owner's household with the smallest id among those that voted."""
    best: str | None = None
    for v in voters:
        if v.owner_key == owner and v.household_id in ballots and (best is None or v.household_id < best):
            best = v.household_id
    return None if best is None else Choice(ballots[best])


def recount(voters: list[Voter], ballots: dict[str, Choice]) -> Recount:
    owners = sorted({v.owner_key for v in voters})
    choice_of = {o: owner_choice(voters, ballots, o) for o in owners}
    part = [v for v in voters if choice_of[v.owner_key] is not None]
    yes = [v for v in voters if choice_of[v.owner_key] is Choice.AGREE]
    return Recount(
        households=len(voters), owners=len(owners), area=sum(v.area for v in voters),
        part_households=len(part), part_owners=len({v.owner_key for v in part}),
        part_area=sum(v.area for v in part),
        yes_households=len(yes), yes_owners=len({v.owner_key for v in yes}), yes_area=sum(v.area for v in yes),
    )


def _reaches(num: int, den: int, required: Fraction, inclusive: bool) -> bool:
    if den == 0:
        return False
    share = Fraction(num, den)
    return share >= required if inclusive else share > required


def reference_passes(rule: Rule, r: Recount) -> bool:
    """The DOMAIN.md formulas, written out independently with Fraction comparisons."""
    if r.households == 0 or r.part_households == 0:
        return False
    if rule.kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
        return _reaches(r.yes_households, r.households, rule.threshold, rule.inclusive)
    if rule.kind is RuleKind.MAJORITY_OF_PARTICIPANTS:
        return _reaches(r.yes_households, r.part_households, rule.threshold, rule.inclusive)
    assert rule.participation is not None
    return (
        _reaches(r.part_area, r.area, rule.participation, True)
        and _reaches(r.part_owners, r.owners, rule.participation, True)
        and _reaches(r.yes_area, r.part_area, rule.threshold, rule.inclusive)
        and _reaches(r.yes_owners, r.part_owners, rule.threshold, rule.inclusive)
    )
