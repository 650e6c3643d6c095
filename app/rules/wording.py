"""A rule in words, as a notice prints it (投票公告): each fraction in Chinese numerals, "以上" for an
inclusive threshold (≥, Civil Code art. 1259: 以上 includes the number), "过半数" or "超过…" for a strict one.

    civil_code_major 3/4 ≥, participation 2/3:
        参与表决的专有部分面积和人数均占三分之二以上，同意的面积和人数均占参与表决的四分之三以上
"""

from __future__ import annotations

from fractions import Fraction

from app.rules.thresholds import Rule, RuleKind, _zh_int


def fraction_words(value: Fraction) -> str:
    """"三分之二" for 2/3, "二分之一" for 1/2, "一" for 1/1."""
    if value.denominator == 1:
        return _zh_int(value.numerator)
    return f"{_zh_int(value.denominator)}分之{_zh_int(value.numerator)}"


def share_words(value: Fraction, inclusive: bool, base: str = "") -> str:
    """What share of ``base`` is needed, after a subject: "占总户数的三分之二以上", "占参与表决的过半数",
    "超过总户数的五分之三", "占总户数的全部"; without a base "占三分之二以上"."""
    of = f"{base}的" if base else ""
    if value == 1 and inclusive:
        return f"占{of}全部"
    if value == Fraction(1, 2) and not inclusive:
        return f"占{of}过半数"
    words = fraction_words(value)
    return f"占{of}{words}以上" if inclusive else f"超过{of}{words}"


def rule_words(rule: Rule) -> str:
    """The whole rule in one sentence (no final full stop)."""
    agree = rule.threshold, rule.inclusive
    if rule.kind is RuleKind.SHARE_OF_ALL_HOUSEHOLDS:
        return f"同意的户数{share_words(*agree, base='总户数')}"
    if rule.kind is RuleKind.MAJORITY_OF_PARTICIPANTS:
        return f"同意的户数{share_words(*agree, base='参与表决户数')}"
    assert rule.participation is not None  # the civil-code kinds always have one (Rule checks)
    return (f"参与表决的专有部分面积和人数均{share_words(rule.participation, True)}，"
            f"同意的面积和人数均{share_words(*agree, base='参与表决')}")
