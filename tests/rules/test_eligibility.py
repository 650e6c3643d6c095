"""Community eligibility by built date (cutoff inclusive)."""

from __future__ import annotations

from datetime import date

from app.rules import check_eligibility, is_eligible

CUTOFF = date(2005, 12, 31)  # Zhoucun, Linyi, Laoshan: built on or before 2005-12-31


def test_built_on_the_cutoff_is_eligible() -> None:
    assert is_eligible(date(2005, 12, 31), CUTOFF) is True
    assert is_eligible(date(1988, 6, 1), CUTOFF) is True


def test_built_the_day_after_is_not() -> None:
    assert is_eligible(date(2006, 1, 1), CUTOFF) is False


def test_zhanhe_before_2000() -> None:
    # "2000年以前" is stored as the inclusive cutoff 1999-12-31
    assert is_eligible(date(1999, 12, 31), date(1999, 12, 31)) is True
    assert is_eligible(date(2000, 1, 1), date(1999, 12, 31)) is False


def test_no_cutoff_means_eligible() -> None:
    assert is_eligible(date(2020, 1, 1), None) is True
    assert is_eligible(None, None) is True
    result = check_eligibility(None, None)
    assert result.eligible is True and result.cutoff is None and result.reason_zh


def test_unknown_built_date_is_not_eligible_under_a_cutoff() -> None:
    assert is_eligible(None, CUTOFF) is False
    result = check_eligibility(None, CUTOFF)
    assert result.eligible is False and result.cutoff == CUTOFF and "建成日期" in result.reason_zh


def test_check_eligibility_reasons() -> None:
    ok = check_eligibility(date(2005, 12, 31), CUTOFF)
    assert ok.eligible is True and "2005-12-31" in ok.reason_zh
    late = check_eligibility(date(2006, 1, 1), CUTOFF)
    assert late.eligible is False and "2006-01-01" in late.reason_zh and late.cutoff == CUTOFF
