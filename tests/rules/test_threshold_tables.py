"""Table tests of the thresholds at and around their boundaries."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from app.rules import (
    Choice,
    Counts,
    Outcome,
    Rule,
    RuleKind,
    Voter,
    count_electorate,
    evaluate,
    headcount_and_area,
    meets,
)

SHARE = Rule.default(RuleKind.SHARE_OF_ALL_HOUSEHOLDS)
MAJOR = Rule.default(RuleKind.CIVIL_CODE_MAJOR)
ORDINARY = Rule.default(RuleKind.CIVIL_CODE_ORDINARY)
MAJORITY = Rule.default(RuleKind.MAJORITY_OF_PARTICIPANTS)
ALL_DEFAULTS = [SHARE, MAJOR, ORDINARY, MAJORITY]


def households(n: int, agree: int, disagree: int = 0, abstain: int = 0, area_each: int = 10_000) -> Counts:
    """n single-household owners of equal area."""
    return Counts(n, n, n * area_each, agree, agree, agree * area_each, disagree, disagree, disagree * area_each,
                  abstain, abstain, abstain * area_each)


def closed(rule: Rule, counts: Counts) -> Outcome:
    return evaluate(rule, counts, window_open=False).outcome


def met(rule: Rule, counts: Counts) -> dict[str, bool]:
    return {c.name: c.met for c in evaluate(rule, counts, window_open=False).conditions}


# ---- boundaries ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("n", "agree", "expected"), [
    (9, 6, Outcome.PASSED),    # exactly 2/3 ("三分之二以上" includes 2/3)
    (9, 5, Outcome.FAILED),    # one short
    (10, 7, Outcome.PASSED),   # 7/10 ≥ 2/3
    (10, 6, Outcome.FAILED),   # 6/10 < 2/3 (6.67 needed)
    (3, 2, Outcome.PASSED),
    (300, 200, Outcome.PASSED),
    (300, 199, Outcome.FAILED),
])
def test_share_of_all_households_boundary(n, agree, expected) -> None:
    # the others did not vote: the denominator is ALL households in scope, not the participants
    assert closed(SHARE, households(n, agree)) is expected


def test_share_of_all_counts_non_voters_against() -> None:
    # 6 of 6 voters agree, but 9 households are in scope: 6/9 = 2/3 passes; 5/9 fails even if unanimous
    assert closed(SHARE, households(9, 6)) is Outcome.PASSED
    assert closed(SHARE, households(9, 5)) is Outcome.FAILED


@pytest.mark.parametrize(("agree", "expected"), [(6, Outcome.PASSED), (5, Outcome.FAILED)])
def test_civil_code_major_exactly_three_quarters_passes(agree, expected) -> None:
    # 8 owners all take part; 6/8 = 3/4 exactly by area and by headcount
    assert closed(MAJOR, households(8, agree, disagree=8 - agree)) is expected


@pytest.mark.parametrize(("agree", "expected"), [(4, Outcome.FAILED), (5, Outcome.PASSED)])
def test_civil_code_ordinary_exactly_half_fails(agree, expected) -> None:
    # "过半数" is strictly more than half: 4/8 fails, 5/8 passes
    assert closed(ORDINARY, households(8, agree, disagree=8 - agree)) is expected


@pytest.mark.parametrize(("agree", "against", "expected"), [
    (2, 2, Outcome.FAILED),   # exactly half fails
    (3, 2, Outcome.PASSED),
    (2, 1, Outcome.PASSED),
    (1, 1, Outcome.FAILED),
])
def test_majority_of_participants_is_strict(agree, against, expected) -> None:
    assert closed(MAJORITY, households(10, agree, disagree=against)) is expected


def test_majority_counts_abstain_as_participation() -> None:
    # 3 agree, 1 disagree, 2 abstain: 3/6 is not more than half
    assert closed(MAJORITY, households(10, 3, disagree=1, abstain=2)) is Outcome.FAILED
    assert closed(MAJORITY, households(10, 3, disagree=1, abstain=1)) is Outcome.PASSED


def test_civil_code_participation_is_inclusive() -> None:
    # 9 owners, 6 take part (exactly 2/3 by area and headcount), all agree → passes both kinds
    assert closed(MAJOR, households(9, 6)) is Outcome.PASSED
    assert closed(ORDINARY, households(9, 6)) is Outcome.PASSED
    # 5 of 9 take part → participation fails whatever the agree share
    assert closed(MAJOR, households(9, 5)) is Outcome.FAILED
    assert met(MAJOR, households(9, 5)) == {"participation_area": False, "participation_headcount": False,
                                            "agree_area": True, "agree_headcount": True}


def test_participation_exactly_two_thirds_by_area_but_not_by_headcount() -> None:
    # one owner with 60.00 m², three owners with 10.00 m² each: total 90.00 m², 4 owners
    voters = [Voter("a", "big", 6_000), Voter("b", "s1", 1_000), Voter("c", "s2", 1_000), Voter("d", "s3", 1_000)]
    counts = count_electorate(voters, {"a": Choice.AGREE})
    for rule in (MAJOR, ORDINARY):
        conditions = {c.name: c for c in evaluate(rule, counts, window_open=False).conditions}
        assert (conditions["participation_area"].numerator, conditions["participation_area"].denominator) == (
            6_000, 9_000)
        assert conditions["participation_area"].met is True          # 6000/9000 = 2/3 exactly
        assert conditions["participation_headcount"].met is False    # 1/4
        assert conditions["agree_area"].met and conditions["agree_headcount"].met
        assert closed(rule, counts) is Outcome.FAILED
    # the mirror: three small owners take part: 3/4 of the heads but 1/3 of the area
    counts = count_electorate(voters, {"b": Choice.AGREE, "c": Choice.AGREE, "d": Choice.AGREE})
    assert met(MAJOR, counts)["participation_headcount"] is True
    assert met(MAJOR, counts)["participation_area"] is False
    assert closed(MAJOR, counts) is Outcome.FAILED


def test_agree_by_headcount_but_not_by_area_fails() -> None:
    # all four owners vote; the three small owners agree (3/4 heads) but hold only 1/3 of the area
    voters = [Voter("a", "big", 6_000), Voter("b", "s1", 1_000), Voter("c", "s2", 1_000), Voter("d", "s3", 1_000)]
    counts = count_electorate(voters, {"a": Choice.DISAGREE, "b": Choice.AGREE, "c": Choice.AGREE,
                                       "d": Choice.AGREE})
    assert met(MAJOR, counts) == {"participation_area": True, "participation_headcount": True,
                                  "agree_area": False, "agree_headcount": True}
    assert closed(MAJOR, counts) is Outcome.FAILED
    assert closed(ORDINARY, counts) is Outcome.FAILED


def test_meets_uses_integers_where_a_float_would_be_wrong() -> None:
    num, den = 2 * 10**17 - 1, 3 * 10**17
    assert num / den >= 2 / 3  # the float comparison gets this wrong
    assert meets(num, den, Fraction(2, 3), True) is False
    assert meets(num + 1, den, Fraction(2, 3), True) is True
    assert meets(num + 1, den, Fraction(2, 3), False) is False


def test_meets_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        meets(-1, 3, Fraction(1, 2), True)


# ---- owners with several households, scope ------------------------------------------------------

def test_an_owner_with_three_units_is_one_head_with_one_choice() -> None:
    voters = [Voter("1-101", "owner-a", 5_012), Voter("1-102", "owner-a", 6_000), Voter("2-301", "owner-a", 7_000),
              Voter("1-201", "owner-b", 8_000)]
    assert headcount_and_area(voters) == (2, 26_012)
    counts = count_electorate(voters, {"1-102": Choice.AGREE})
    assert (counts.total_households, counts.total_owners, counts.total_area) == (4, 2, 26_012)
    # the one ballot applies to all three units: 3 households, 1 owner, their summed area
    assert (counts.agree_households, counts.agree_owners, counts.agree_area) == (3, 1, 18_012)
    assert counts.participating_households == 3 and counts.remaining_households == 1
    assert counts.remaining_owners == 1 and counts.remaining_area == 8_000
    # 3 of 4 households agree → share of all households passes; civil code: 1 of 2 heads is below 2/3
    assert closed(SHARE, counts) is Outcome.PASSED
    assert closed(MAJOR, counts) is Outcome.FAILED


def test_an_owner_cannot_split_votes_smallest_household_id_decides() -> None:
    voters = [Voter("h2", "a", 100), Voter("h1", "a", 100), Voter("h3", "a", 100), Voter("h4", "b", 100)]
    counts = count_electorate(voters, {"h3": Choice.AGREE, "h1": Choice.DISAGREE, "h4": Choice.AGREE})
    # h1 < h3: the owner's choice is "disagree", for all three of their households
    assert (counts.disagree_households, counts.disagree_owners, counts.disagree_area) == (3, 1, 300)
    assert (counts.agree_households, counts.agree_owners, counts.agree_area) == (1, 1, 100)


def test_ballots_outside_the_scope_are_ignored() -> None:
    voters = [Voter("h1", "a", 100), Voter("h2", "b", 100)]
    counts = count_electorate(voters, {"h1": Choice.AGREE, "elsewhere": Choice.AGREE})
    assert counts.agree_households == 1 and counts.total_households == 2


def test_duplicate_household_is_rejected() -> None:
    with pytest.raises(ValueError):
        count_electorate([Voter("h1", "a", 100), Voter("h1", "a", 100)], {})


def test_ballot_values_may_be_plain_strings_but_must_be_known() -> None:
    counts = count_electorate([Voter("h1", "a", 100)], {"h1": "agree"})  # type: ignore[dict-item]
    assert counts.agree_households == 1
    with pytest.raises(ValueError):
        count_electorate([Voter("h1", "a", 100)], {"h1": "yes"})  # type: ignore[dict-item]


def test_unit_scoped_electorate_uses_that_units_denominators() -> None:
    unit1 = [Voter("1-1-101", "a", 9_000), Voter("1-1-201", "b", 9_000), Voter("1-1-301", "c", 9_000)]
    unit2 = [Voter("1-2-101", "d", 9_000), Voter("1-2-201", "e", 9_000), Voter("1-2-301", "f", 9_000)]
    ballots = {"1-1-101": Choice.AGREE, "1-1-201": Choice.AGREE, "1-2-101": Choice.DISAGREE}
    in_unit = count_electorate(unit1, ballots)
    assert (in_unit.total_households, in_unit.total_owners, in_unit.total_area) == (3, 3, 27_000)
    assert in_unit.participating_households == 2  # the unit-2 ballot is not in scope
    assert closed(SHARE, in_unit) is Outcome.PASSED  # 2/3 of the unit
    whole = count_electorate(unit1 + unit2, ballots)
    assert whole.total_households == 6
    assert closed(SHARE, whole) is Outcome.FAILED  # 2/6 of the community


@pytest.mark.parametrize("rule", ALL_DEFAULTS, ids=lambda r: r.kind.value)
def test_zero_households(rule) -> None:
    counts = count_electorate([], {})
    assert counts == Counts(0, 0, 0)
    for window_open in (False, True):
        result = evaluate(rule, counts, window_open=window_open)
        assert result.outcome is Outcome.FAILED
        assert all(not c.met and c.shortfall is None for c in result.conditions)


@pytest.mark.parametrize("rule", ALL_DEFAULTS, ids=lambda r: r.kind.value)
def test_owners_without_households_never_pass(rule) -> None:
    # inconsistent aggregates (owners and area but no households) must not pass either
    counts = Counts(0, 1, 100, agree_owners=1, agree_area=100)
    assert evaluate(rule, counts, window_open=False).outcome is Outcome.FAILED


@pytest.mark.parametrize("rule", ALL_DEFAULTS, ids=lambda r: r.kind.value)
def test_unanimous_full_turnout_passes(rule) -> None:
    assert closed(rule, households(5, 5)) is Outcome.PASSED


# ---- early decisions, shortfalls ----------------------------------------------------------------

def test_early_decisions() -> None:
    # 6 of 9 already agree: share of all households cannot be lost (ballots count as they stand)
    r = evaluate(SHARE, households(9, 6), window_open=True)
    assert (r.outcome, r.decided_early, r.window_open) == (Outcome.PASSED, True, True)
    # 4 of 9 disagree: at most 5/9 can agree → failed early
    r = evaluate(SHARE, households(9, 0, disagree=4), window_open=True)
    assert (r.outcome, r.decided_early) == (Outcome.FAILED, True)
    # 5 of 9 agree, 4 silent: could go either way
    r = evaluate(SHARE, households(9, 5), window_open=True)
    assert (r.outcome, r.decided_early) == (Outcome.PENDING, False)
    # majority of participants: a comfortable lead can still be overturned while others may vote
    r = evaluate(MAJORITY, households(10, 3), window_open=True)
    assert r.outcome is Outcome.PENDING
    r = evaluate(MAJORITY, households(10, 6), window_open=True)
    assert (r.outcome, r.decided_early) == (Outcome.PASSED, True)
    # civil code: agree share met but participation not yet → pending, not passed
    r = evaluate(MAJOR, households(9, 5), window_open=True)
    assert r.outcome is Outcome.PENDING
    # 5 of 9 agree, 4 silent: if the 4 all vote against, 5/9 > 1/2 still passes "ordinary"; but if they
    # stay away, participation (5/9 < 2/3) fails: still pending, NOT passed early
    r = evaluate(ORDINARY, households(9, 5), window_open=True)
    assert (r.outcome, r.decided_early) == (Outcome.PENDING, False)
    # closed window: never pending, never "early"
    r = evaluate(MAJOR, households(9, 5), window_open=False)
    assert (r.outcome, r.decided_early, r.window_open) == (Outcome.FAILED, False, False)


def test_shortfalls() -> None:
    cond = evaluate(SHARE, households(9, 4), window_open=True).conditions[0]
    assert (cond.name, cond.numerator, cond.denominator, cond.shortfall, cond.unit) == (
        "agree_households", 4, 9, 2, "households")
    cond = evaluate(SHARE, households(9, 4, disagree=4), window_open=True).conditions[0]
    assert cond.shortfall is None  # only one household left: 2 more are needed
    cond = evaluate(MAJORITY, households(10, 2, disagree=2), window_open=True).conditions[0]
    assert (cond.numerator, cond.denominator, cond.shortfall) == (2, 4, 1)  # 3/5 > 1/2
    cond = evaluate(MAJORITY, households(10, 0), window_open=True).conditions[0]
    assert (cond.shortfall, cond.shortfall_reason) == (None, "no_participants")  # no share of no one (test_shortfall_zero)
    by_name = {c.name: c for c in evaluate(MAJOR, households(12, 4, disagree=2), window_open=True).conditions}
    assert by_name["participation_headcount"].shortfall == 2      # 8 of 12 needed, 6 took part
    assert by_name["participation_area"].shortfall == 20_000      # 80000 of 120000 (0.01 m²)
    assert by_name["agree_headcount"].shortfall == 2              # (4+2)/(6+2) = 3/4
    assert by_name["agree_area"].unit == "area"
    met_cond = evaluate(SHARE, households(9, 6), window_open=True).conditions[0]
    assert met_cond.met and met_cond.shortfall == 0


def test_tally_to_dict_is_json() -> None:
    result = evaluate(MAJOR, households(8, 6, disagree=2), window_open=False)
    data = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert data["outcome"] == "passed" and data["decided_early"] is False and data["window_open"] is False
    assert data["rule"]["kind"] == "civil_code_major" and data["rule"]["threshold"] == "3/4"
    assert data["rule"]["legal_source"].startswith("《民法典》第二百七十八条")
    assert [c["name"] for c in data["conditions"]] == [
        "participation_area", "participation_headcount", "agree_area", "agree_headcount"]
    agree_head = data["conditions"][3]
    assert agree_head == {"name": "agree_headcount", "label_zh": agree_head["label_zh"], "numerator": 6,
                          "denominator": 8, "required": "3/4", "inclusive": True, "met": True, "shortfall": 0,
                          "shortfall_reason": None, "unit": "owners"}
    assert data["counts"]["participating_owners"] == 8 and data["counts"]["remaining_owners"] == 0
    assert result.passed
    # the rule part of a tally reads back as the same rule
    assert Rule.from_dict(data["rule"]) == MAJOR


# ---- Counts validation --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"total_households": -1, "total_owners": 0, "total_area": 0},
    {"total_households": 2, "total_owners": 2, "total_area": 100, "agree_households": 2, "disagree_households": 1},
    {"total_households": 2, "total_owners": 1, "total_area": 100, "agree_owners": 1, "abstain_owners": 1},
    {"total_households": 2, "total_owners": 2, "total_area": 100, "agree_area": 60, "disagree_area": 41},
    {"total_households": 2, "total_owners": 2, "total_area": 100.0},
    {"total_households": True, "total_owners": 2, "total_area": 100},
])
def test_counts_validation(kwargs) -> None:
    with pytest.raises(ValueError):
        Counts(**kwargs)


def test_counts_with_remaining() -> None:
    c = households(5, 1, disagree=1)
    assert c.with_remaining(None) == c
    assert c.with_remaining(Choice.AGREE).agree_households == 4
    assert c.with_remaining(Choice.ABSTAIN).remaining_area == 0


@pytest.mark.parametrize("args", [("", "a", 1), ("h", "", 1), ("h", "a", -1), ("h", "a", 1.5)])
def test_voter_validation(args) -> None:
    with pytest.raises(ValueError):
        Voter(*args)
