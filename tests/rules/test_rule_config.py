"""Rule configuration: fraction parsing, JSON round trip, validation, Chinese wording."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.rules import Rule, RuleKind, fraction_str, parse_fraction


@pytest.mark.parametrize(("text", "expected"), [
    ("2/3", Fraction(2, 3)), (" 3 / 4 ", Fraction(3, 4)), ("1", Fraction(1)), ("4/8", Fraction(1, 2)),
    ("1/1", Fraction(1)), (Fraction(3, 5), Fraction(3, 5)), (1, Fraction(1)),
])
def test_parse_fraction(text, expected) -> None:
    assert parse_fraction(text) == expected


@pytest.mark.parametrize("bad", ["0", "0/3", "3/2", "1/0", "-1/2", "abc", "", "0.5", "2/3/4", 0.5, True, None,
                                 Fraction(-1, 2), Fraction(0), Fraction(4, 3), "1234567890/2"])
def test_parse_fraction_rejects(bad) -> None:
    with pytest.raises(ValueError):
        parse_fraction(bad)


def test_fraction_str() -> None:
    assert fraction_str(Fraction(2, 3)) == "2/3"
    assert fraction_str(Fraction(1)) == "1/1"


def test_defaults() -> None:
    assert Rule.default("share_of_all_households") == Rule(
        RuleKind.SHARE_OF_ALL_HOUSEHOLDS, Fraction(2, 3), True, None)
    assert Rule.default(RuleKind.CIVIL_CODE_MAJOR) == Rule(
        RuleKind.CIVIL_CODE_MAJOR, Fraction(3, 4), True, Fraction(2, 3))
    assert Rule.default(RuleKind.CIVIL_CODE_ORDINARY) == Rule(
        RuleKind.CIVIL_CODE_ORDINARY, Fraction(1, 2), False, Fraction(2, 3))
    assert Rule.default(RuleKind.MAJORITY_OF_PARTICIPANTS) == Rule(
        RuleKind.MAJORITY_OF_PARTICIPANTS, Fraction(1, 2), False, None)


@pytest.mark.parametrize("kind", list(RuleKind))
def test_round_trip(kind) -> None:
    rule = Rule.default(kind)
    data = rule.to_dict()
    assert Rule.from_dict(data) == rule
    assert isinstance(data["threshold"], str) and data["kind"] == kind.value


def test_from_dict_profiles_form_and_defaults() -> None:
    spec = {"kind": "civil_code_major", "threshold": "3/4", "inclusive": True, "participation": "2/3"}
    assert Rule.from_dict(spec) == Rule.default(RuleKind.CIVIL_CODE_MAJOR)
    assert Rule.from_dict({"kind": "civil_code_ordinary"}) == Rule.default(RuleKind.CIVIL_CODE_ORDINARY)
    custom = Rule.from_dict({"kind": "share_of_all_households", "threshold": "3/5", "inclusive": False})
    assert custom.threshold == Fraction(3, 5) and custom.inclusive is False and custom.participation is None
    assert Rule.from_dict({"kind": "majority_of_participants", "participation": None}).participation is None


@pytest.mark.parametrize(("data", "message"), [
    ({"kind": "two_thirds"}, "unknown rule kind"),
    ({}, "JSON object with a"),
    ({"kind": "share_of_all_households", "threshold": "3/2"}, "at most 1"),
    ({"kind": "share_of_all_households", "threshold": "0/3"}, "greater than 0"),
    ({"kind": "share_of_all_households", "threshold": 0.6667}, "2/3"),
    ({"kind": "share_of_all_households", "participation": "2/3"}, "takes no participation"),
    ({"kind": "civil_code_major", "participation": "5/4"}, "at most 1"),
    ({"kind": "civil_code_major", "inclusive": "yes"}, "inclusive"),
    ({"kind": "majority_of_participants", "threshold": "1/1", "inclusive": False}, "never be met"),
    ({"kind": "majority_of_participants", "threshhold": "2/3"}, "unknown rule field"),
])
def test_from_dict_validation(data, message) -> None:
    with pytest.raises(ValueError, match=message):
        Rule.from_dict(data)


def test_from_dict_rejects_non_objects() -> None:
    with pytest.raises(ValueError):
        Rule.from_dict(["civil_code_major"])  # type: ignore[arg-type]


def test_describe_zh_and_legal_source() -> None:
    share = Rule.default(RuleKind.SHARE_OF_ALL_HOUSEHOLDS)
    assert share.describe_zh() == "总户数三分之二以上同意"
    assert share.legal_source == "崂山区实施方案：项目涉及总户数的三分之二以上认可"
    majority = Rule.default(RuleKind.MAJORITY_OF_PARTICIPANTS)
    assert majority.describe_zh() == "参与表决户数过半数同意"
    assert majority.legal_source == "青岛市：多数居民同意"
    major = Rule.default(RuleKind.CIVIL_CODE_MAJOR)
    assert "三分之二以上" in major.describe_zh() and "四分之三以上" in major.describe_zh()
    assert major.legal_source.startswith("《民法典》第二百七十八条")
    ordinary = Rule.default(RuleKind.CIVIL_CODE_ORDINARY)
    assert "过半数" in ordinary.describe_zh()
    assert ordinary.legal_source.startswith("《民法典》第二百七十八条")
    assert Rule(RuleKind.SHARE_OF_ALL_HOUSEHOLDS, Fraction(3, 5), False).describe_zh() == "总户数超过五分之三同意"
    assert Rule(RuleKind.SHARE_OF_ALL_HOUSEHOLDS, Fraction(11, 12), True).describe_zh() == "总户数十二分之十一以上同意"
