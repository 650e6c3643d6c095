"""Splitting a plan item's residents' share among households, in integer fen. Pure arithmetic.

An item's residents' share is divided by one of three rules (DOMAIN.md, "Residents' share of costs"):

* ``by_area`` — in proportion to each household's exclusive area (Civil Code art. 283: the costs of common
  parts are borne in proportion to the exclusive area, unless agreed otherwise);
* ``equal`` — the same for every household in the item's scope;
* ``opted_in`` — the same for every household that opted in (e.g. 门窗更换, paid by those who want it).

**Largest remainder.** Household *i* of weight *wᵢ* (area in 0.01 m², or 1) has the exact quota
*qᵢ = T·wᵢ / W* of the total *T* fen (*W* = the sum of the weights). It first gets ⌊*qᵢ*⌋ fen; the fen left
over — fewer than the number of households — go one each to the households with the largest remainders
*T·wᵢ mod W*; among equal remainders the larger weight first, then the earlier position (callers list
households in a fixed order, by household id). So the shares sum to *T* exactly, every share is within one fen
of its exact quota (⌊*qᵢ*⌋ ≤ *sᵢ* ≤ ⌊*qᵢ*⌋ + 1), a larger weight never gets less, and the result depends only
on the weights and their order — no float is involved anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum


class SplitRule(StrEnum):
    BY_AREA = "by_area"
    EQUAL = "equal"
    OPTED_IN = "opted_in"


SPLIT_ZH = {SplitRule.BY_AREA: "按专有部分面积分摊", SplitRule.EQUAL: "按户均摊", SplitRule.OPTED_IN: "由自愿参加的住户均摊"}


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` fen split in proportion to ``weights`` (see the module doc). Raises ``ValueError`` for a
    negative total or weight, and for a positive total with nothing to split it by (all weights 0)."""
    if total < 0:
        raise ValueError("the total is negative")
    if any(w < 0 for w in weights):
        raise ValueError("a weight is negative")
    whole = sum(weights)
    if whole == 0:
        if total == 0:
            return [0] * len(weights)
        raise ValueError("nothing to split by")
    shares = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def split_share(total: int, rule: SplitRule, *, areas: Sequence[int], opted_in: Sequence[bool]) -> list[int] | None:
    """Each household's share of ``total`` fen under ``rule``, households given by their areas (0.01 m²) and
    whether each opted in, in a fixed order. None when there is nobody to split among (no household in scope,
    or none opted in) while something is to be paid."""
    if len(areas) != len(opted_in):
        raise ValueError("areas and opted_in differ in length")
    if rule is SplitRule.BY_AREA:
        weights = list(areas)
    elif rule is SplitRule.EQUAL:
        weights = [1] * len(areas)
    else:
        weights = [1 if o else 0 for o in opted_in]
    if total > 0 and sum(weights) == 0:
        return None
    return largest_remainder(total, weights)


def short_of(counted: int, share: int) -> int:
    """How many fen ``counted`` (collected, or pledged) still lacks to cover ``share``: 0 when it covers it."""
    return max(0, share - counted)


def yuan_text(fen: int) -> str:
    """Fen as yuan with two decimals and thousands separators: 1234567 → "12,345.67", -5 → "-0.05"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"
