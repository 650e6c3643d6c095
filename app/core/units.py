"""Exact quantities: area in integer hundredths of m², money in integer fen."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_AREA_CENTI = 100_000_00  # 100,000 m²


def parse_area(text: str | int | float | Decimal | None) -> int:
    """'86.35' -> 8635. Raises ValueError with a short reason (missing, not a number, negative, too precise)."""
    if text is None:
        raise ValueError("missing")
    if isinstance(text, float):
        text = repr(text)
    s = str(text).strip().replace(",", "")
    if not s:
        raise ValueError("missing")
    try:
        d = Decimal(s)
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not d.is_finite():
        raise ValueError("not a number")
    if d <= 0:
        raise ValueError("must be positive")
    centi = d * 100
    if centi != centi.to_integral_value():
        raise ValueError("more than two decimal places")
    value = int(centi)
    if value > MAX_AREA_CENTI:
        raise ValueError("too large")
    return value


def format_area(centi: int) -> str:
    sign = "-" if centi < 0 else ""
    centi = abs(centi)
    return f"{sign}{centi // 100}.{centi % 100:02d}"
