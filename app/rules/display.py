"""Shares shown to people: percentages from integers only (display; nothing is decided on them)."""

from __future__ import annotations


def percent_text(numerator: int, denominator: int, *, decimals: int = 2) -> str | None:
    """``numerator / denominator`` as a percentage with ``decimals`` places, rounded half up, computed in
    integers (``percent_text(2, 3)`` is ``"66.67"``); None when the denominator is not positive."""
    if denominator <= 0:
        return None
    scale = 10 ** decimals
    units = (numerator * 100 * scale * 2 + denominator) // (2 * denominator)
    whole, part = divmod(units, scale)
    return f"{whole}.{part:0{decimals}d}" if decimals else str(whole)
