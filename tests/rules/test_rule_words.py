"""A rule in words (投票公告): every kind, its fractions in Chinese numerals, 以上 for inclusive, 过半数/超过
for strict."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.rules import Rule, RuleKind, fraction_words, rule_words, share_words


@pytest.mark.parametrize(("value", "words"), [
    (Fraction(2, 3), "三分之二"), (Fraction(3, 4), "四分之三"), (Fraction(1, 2), "二分之一"),
    (Fraction(3, 5), "五分之三"), (Fraction(11, 20), "二十分之十一"), (Fraction(1, 1), "一"),
])
def test_fraction_words(value: Fraction, words: str) -> None:
    assert fraction_words(value) == words


def test_share_words_inclusive_strict_half_and_all() -> None:
    assert share_words(Fraction(2, 3), True, "总户数") == "占总户数的三分之二以上"
    assert share_words(Fraction(2, 3), True) == "占三分之二以上"
    assert share_words(Fraction(1, 2), False, "参与表决") == "占参与表决的过半数"
    assert share_words(Fraction(1, 2), True, "参与表决") == "占参与表决的二分之一以上"
    assert share_words(Fraction(3, 5), False, "总户数") == "超过总户数的五分之三"
    assert share_words(Fraction(1, 1), True, "总户数") == "占总户数的全部"


def test_civil_code_major_default_reads_as_the_civil_code() -> None:
    assert rule_words(Rule.default(RuleKind.CIVIL_CODE_MAJOR)) == (
        "参与表决的专有部分面积和人数均占三分之二以上，同意的面积和人数均占参与表决的四分之三以上")


def test_civil_code_ordinary_default_is_more_than_half_of_participants() -> None:
    assert rule_words(Rule.default(RuleKind.CIVIL_CODE_ORDINARY)) == (
        "参与表决的专有部分面积和人数均占三分之二以上，同意的面积和人数均占参与表决的过半数")


def test_share_of_all_households_default_and_custom() -> None:
    assert rule_words(Rule.default(RuleKind.SHARE_OF_ALL_HOUSEHOLDS)) == "同意的户数占总户数的三分之二以上"
    custom = Rule.from_dict({"kind": "share_of_all_households", "threshold": "4/5", "inclusive": False})
    assert rule_words(custom) == "同意的户数超过总户数的五分之四"


def test_majority_of_participants_default_and_custom() -> None:
    assert rule_words(Rule.default(RuleKind.MAJORITY_OF_PARTICIPANTS)) == "同意的户数占参与表决户数的过半数"
    custom = Rule.from_dict({"kind": "majority_of_participants", "threshold": "2/3", "inclusive": True})
    assert rule_words(custom) == "同意的户数占参与表决户数的三分之二以上"


def test_civil_code_custom_fractions_are_rendered_from_the_rule() -> None:
    r = Rule.from_dict({"kind": "civil_code_major", "threshold": "4/5", "inclusive": False, "participation": "3/4"})
    assert rule_words(r) == "参与表决的专有部分面积和人数均占四分之三以上，同意的面积和人数均超过参与表决的五分之四"
