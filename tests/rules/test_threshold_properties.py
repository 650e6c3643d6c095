"""Property tests of the tally: monotonicity, order independence, no pass on zero, early decisions."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from app.rules import (
    Choice,
    Counts,
    Outcome,
    Rule,
    RuleKind,
    Voter,
    count_electorate,
    evaluate,
    meets,
    shortfall_fixed,
    shortfall_growing,
)
from tests.rules.support import (
    CHOICES_OR_NONE,
    electorates,
    fractions_in_unit,
    low_threshold_civil_rules,
    recount,
    reference_passes,
    rules,
)

MODERATE = settings(max_examples=200, deadline=None, database=None)
CIVIL = (RuleKind.CIVIL_CODE_MAJOR, RuleKind.CIVIL_CODE_ORDINARY)


def silent_owners(voters: list[Voter], ballots: dict[str, Choice]) -> list[str]:
    """Owner keys none of whose households has a ballot, in first-seen order."""
    voted = {v.owner_key for v in voters if v.household_id in ballots}
    return list(dict.fromkeys(v.owner_key for v in voters if v.owner_key not in voted))


def first_household(voters: list[Voter], owner: str) -> str:
    return next(v.household_id for v in voters if v.owner_key == owner)


@MODERATE
@given(rule=rules(), electorate=electorates(), data=st.data())
def test_an_extra_agree_ballot_never_turns_passed_into_failed(rule, electorate, data) -> None:
    voters, ballots = electorate
    assume(voters)
    owner = data.draw(st.sampled_from(sorted({v.owner_key for v in voters})))
    own = [v.household_id for v in voters if v.owner_key == owner]
    ballots = {h: c for h, c in ballots.items() if h not in own}  # this owner has not voted yet
    household = data.draw(st.sampled_from(own))
    before_counts = count_electorate(voters, ballots)
    after_counts = count_electorate(voters, {**ballots, household: Choice.AGREE})
    for window_open in (False, True):
        before = evaluate(rule, before_counts, window_open=window_open).outcome
        after = evaluate(rule, after_counts, window_open=window_open).outcome
        if before is Outcome.PASSED:
            assert after is Outcome.PASSED, (window_open, before_counts, after_counts)
    # and a failure decided early stays failed: nothing the remaining voters do can rescue it
    if evaluate(rule, before_counts, window_open=True).outcome is Outcome.FAILED:
        assert evaluate(rule, after_counts, window_open=True).outcome is Outcome.FAILED


@MODERATE
@given(rule=rules(), electorate=electorates(max_households=10, max_owners=5), seed=st.integers(0, 2**32))
def test_results_do_not_depend_on_voter_or_ballot_order(rule, electorate, seed) -> None:
    voters, ballots = electorate
    rng = random.Random(seed)
    shuffled_voters = voters[:]
    rng.shuffle(shuffled_voters)
    items = list(ballots.items())
    rng.shuffle(items)
    a = count_electorate(voters, ballots)
    b = count_electorate(shuffled_voters, dict(items))
    assert a == b
    for window_open in (False, True):
        assert evaluate(rule, a, window_open=window_open) == evaluate(rule, b, window_open=window_open)


@MODERATE
@given(rule=rules(), electorate=electorates(max_households=10))
def test_never_passes_without_participation(rule, electorate) -> None:
    voters, _ = electorate
    counts = count_electorate(voters, {})
    assert counts.participating_households == 0
    assert evaluate(rule, counts, window_open=False).outcome is Outcome.FAILED
    assert evaluate(rule, counts, window_open=True).outcome is not Outcome.PASSED


@MODERATE
@given(rule=rules(), window_open=st.booleans())
def test_never_passes_on_zero_households(rule, window_open) -> None:
    result = evaluate(rule, Counts(0, 0, 0), window_open=window_open)
    assert result.outcome is Outcome.FAILED
    assert not any(c.met for c in result.conditions)


@MODERATE
@given(rule=rules(), electorate=electorates(max_households=10, max_owners=8))
def test_evaluate_agrees_with_a_brute_force_recount(rule, electorate) -> None:
    voters, ballots = electorate
    counts = count_electorate(voters, ballots)
    r = recount(voters, ballots)
    assert (counts.total_households, counts.total_owners, counts.total_area) == (r.households, r.owners, r.area)
    assert (counts.participating_households, counts.participating_owners, counts.participating_area) == (
        r.part_households, r.part_owners, r.part_area)
    assert (counts.agree_households, counts.agree_owners, counts.agree_area) == (
        r.yes_households, r.yes_owners, r.yes_area)
    expected = Outcome.PASSED if reference_passes(rule, r) else Outcome.FAILED
    assert evaluate(rule, counts, window_open=False).outcome is expected


@settings(max_examples=150, deadline=None, database=None)
@given(rule=rules(), electorate=electorates(max_households=6, max_owners=6))
def test_early_decisions_hold_for_every_completion(rule, electorate) -> None:
    check_every_completion(rule, *electorate)


@settings(max_examples=150, deadline=None, database=None)
@given(rule=low_threshold_civil_rules(), electorate=electorates(max_households=6, max_owners=6))
def test_early_decisions_hold_for_every_completion_when_participation_binds(rule, electorate) -> None:
    check_every_completion(rule, *electorate)


def check_every_completion(rule: Rule, voters: list[Voter], ballots: dict[str, Choice]) -> None:
    """Enumerate every way the owners who have not voted could still vote (or not) and tally each."""
    live = evaluate(rule, count_electorate(voters, ballots), window_open=True)
    silent = silent_owners(voters, ballots)
    finals = set()
    for combo in itertools.product(CHOICES_OR_NONE, repeat=len(silent)):
        completed = dict(ballots)
        for owner, choice in zip(silent, combo, strict=True):
            if choice is not None:
                completed[first_household(voters, owner)] = choice
        finals.add(evaluate(rule, count_electorate(voters, completed), window_open=False).outcome)
    event(f"{live.outcome.value}, decided_early={live.decided_early}")
    if live.decided_early:
        assert finals == {live.outcome}
    else:
        # pending means the outcome really can still go either way
        assert live.outcome is Outcome.PENDING
        assert finals == {Outcome.PASSED, Outcome.FAILED}


@MODERATE
@given(rule=st.sampled_from([Rule.default(k) for k in CIVIL]), data=st.data())
def test_civil_code_needs_both_area_and_headcount(rule, data) -> None:
    """Counts where exactly one of each area/headcount pair holds always fail."""
    big_area = data.draw(st.integers(10_000, 1_000_000))
    small = data.draw(st.integers(3, 12))  # small owners of 1 m² each
    total_owners = small + 1
    total_area = big_area + small * 100
    # participation: the big owner alone holds ≥ 2/3 of the area but is far below 2/3 of the headcount
    assume(meets(big_area, total_area, rule.participation, True))
    by_area_only = Counts(total_owners, total_owners, total_area, agree_households=1, agree_owners=1,
                          agree_area=big_area)
    result = evaluate(rule, by_area_only, window_open=False)
    met = {c.name: c.met for c in result.conditions}
    assert met["participation_area"] and not met["participation_headcount"]
    assert result.outcome is Outcome.FAILED
    # everyone takes part; the small owners all agree (headcount holds), the big owner disagrees (area fails)
    by_head_only = Counts(total_owners, total_owners, total_area, agree_households=small, agree_owners=small,
                          agree_area=small * 100, disagree_households=1, disagree_owners=1,
                          disagree_area=big_area)
    result = evaluate(rule, by_head_only, window_open=False)
    met = {c.name: c.met for c in result.conditions}
    assert met["agree_headcount"] and not met["agree_area"]
    assert result.outcome is Outcome.FAILED
    # the mirror image: the big owner agrees, the small ones disagree
    by_area_agree = Counts(total_owners, total_owners, total_area, agree_households=1, agree_owners=1,
                           agree_area=big_area, disagree_households=small, disagree_owners=small,
                           disagree_area=small * 100)
    result = evaluate(rule, by_area_agree, window_open=False)
    met = {c.name: c.met for c in result.conditions}
    assert met["agree_area"] and not met["agree_headcount"]
    assert result.outcome is Outcome.FAILED


@MODERATE
@given(num=st.integers(0, 10**6), den=st.integers(0, 10**6), required=fractions_in_unit(max_den=12),
       inclusive=st.booleans())
def test_meets_is_exact(num, den, required, inclusive) -> None:
    if den == 0:
        assert meets(num, den, required, inclusive) is False
    else:
        share = Fraction(num, den)
        assert meets(num, den, required, inclusive) is (share >= required if inclusive else share > required)


@MODERATE
@given(num=st.integers(0, 60), extra=st.integers(0, 60), available=st.integers(0, 80),
       required=fractions_in_unit(max_den=7), inclusive=st.booleans())
def test_shortfalls_are_the_smallest_sufficient_amount(num, extra, available, required, inclusive) -> None:
    den = num + extra
    assume(inclusive or required < 1)
    fixed = next((k for k in range(available + 1) if meets(num + k, den, required, inclusive)), None)
    assert shortfall_fixed(num, den, required, inclusive, available) == fixed
    growing = next((k for k in range(available + 1) if meets(num + k, den + k, required, inclusive)), None)
    assert shortfall_growing(num, den, required, inclusive, available) == growing


@MODERATE
@given(rule=rules(), electorate=electorates(max_households=8))
def test_condition_shortfalls_reach_the_condition(rule, electorate) -> None:
    counts = count_electorate(*electorate)
    for cond in evaluate(rule, counts, window_open=True).conditions:
        assert (cond.shortfall == 0) is cond.met
        if cond.shortfall is not None and cond.shortfall > 0:
            growing = cond.name in ("agree_area", "agree_headcount") or (
                rule.kind is RuleKind.MAJORITY_OF_PARTICIPANTS)
            k = cond.shortfall
            den_after = cond.denominator + (k if growing else 0)
            assert meets(cond.numerator + k, den_after, cond.required, cond.inclusive)
            den_before = cond.denominator + (k - 1 if growing else 0)
            assert not meets(cond.numerator + k - 1, den_before, cond.required, cond.inclusive)
