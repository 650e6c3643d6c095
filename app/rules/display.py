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


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Order names as people read them: runs of digits by their value, so 2号楼 comes before 10号楼 and room
    902 before 1001 (``sorted(names, key=natural_key)``); other text by its characters."""
    parts: list[tuple[int, int, str]] = []
    run = ""
    for ch in text:
        if ch.isascii() and ch.isdigit():
            run += ch
            continue
        if run:
            parts.append((0, int(run), run))
            run = ""
        parts.append((1, 0, ch))
    if run:
        parts.append((0, int(run), run))
    return tuple(parts)


def place_key(building: str, unit: str, room: str) -> tuple[tuple[tuple[int, int, str], ...], ...]:
    """A household's place in print order: building, then unit, then room, each in :func:`natural_key` order."""
    return natural_key(building), natural_key(unit), natural_key(room)


def building_words(name: str) -> str:
    """A register building name as printed: "1" → "1号楼"; a name that says more ("综合楼") is kept."""
    return f"{name}号楼" if name.isdigit() else name


def unit_words(name: str) -> str:
    """A register unit name as printed: "2" → "2单元"; a name that says more is kept."""
    return f"{name}单元" if name.isdigit() else name


def place_words(building: str, unit: str, room: str) -> str:
    """A household's place as printed: "1号楼2单元301"."""
    return f"{building_words(building)}{unit_words(unit)}{room}"
