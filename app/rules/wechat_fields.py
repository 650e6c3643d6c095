"""WeChat subscribe-message template data: each value checked and cut to its field type's rules.

The type of a template field is its key without the trailing number (``thing1`` → ``thing``). WeChat refuses a
message whose data breaks a rule (errcode 47003), so every outgoing payload goes through :func:`fit_data`:
lengths are cut (``thing`` ends with "…" when cut), formats that cannot be cut into shape raise
:class:`FieldError`. Pure: no I/O, no imports from the app.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

THING_MAX = 20
PHRASE_MAX = 5
NAME_MAX = 10  # Chinese characters (or 20 letters)
NAME_LATIN_MAX = 20
STRING_MAX = 32  # character_string, number, letter
SYMBOL_MAX = 5
PHONE_MAX = 17
CAR_MAX = 8

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PHRASE = re.compile(f"^[{_HAN}]+$")
_NAME_HAN = re.compile(f"^[{_HAN}·]+$")
_DIGITS = re.compile(r"^-?\d+(\.\d+)?$")
_CLOCK = r"([01]?\d|2[0-3])[:：][0-5]\d"
_DAY = r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2})"
_TIME_POINT = f"({_DAY}\\s*)?{_CLOCK}"
_DATE_POINT = f"{_DAY}(\\s*{_CLOCK})?"
_TIME = re.compile(f"^{_TIME_POINT}(\\s*~\\s*{_TIME_POINT})?$")
_DATE = re.compile(f"^{_DATE_POINT}(\\s*~\\s*{_DATE_POINT})?$")
_AMOUNT = re.compile(r"^[¥$€£]?\d{1,10}(\.\d{1,2})?元?$")
_KEY = re.compile(r"^([a-z_]+?)(\d+)$")


class FieldError(ValueError):
    """A value WeChat would refuse and that cutting cannot fix (a time that is not a time, …)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def field_type(key: str) -> str:
    """``thing1`` → ``thing``, ``character_string2`` → ``character_string``; a key without a number: itself."""
    m = _KEY.match(key)
    return m.group(1) if m else key


def _squash(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int, *, ellipsis: bool = True) -> str:
    """At most ``limit`` characters; when cut, the last one is "…" (``ellipsis``)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…" if ellipsis and limit > 0 else text[:limit]


def fit_value(key: str, value: Any) -> str:
    """The value of template field ``key`` as WeChat accepts it, or :class:`FieldError`."""
    kind = field_type(key)
    text = _squash(str(value))
    if not text:
        raise FieldError(key, "empty")
    if kind == "thing":
        return cut(text, THING_MAX)
    if kind == "phrase":
        if not _PHRASE.match(text):
            raise FieldError(key, "phrase: Chinese characters only")
        return text[:PHRASE_MAX]
    if kind == "name":
        if _NAME_HAN.match(text):
            return text[:NAME_MAX]
        return cut(text, NAME_LATIN_MAX, ellipsis=False)
    if kind == "time":
        if not _TIME.match(text):
            raise FieldError(key, "time: HH:MM, optionally after a date, or a range with ~")
        return text
    if kind == "date":
        if not _DATE.match(text):
            raise FieldError(key, "date: a date, optionally with HH:MM, or a range with ~")
        return text
    if kind == "number":
        if not _DIGITS.match(text) or len(text) > STRING_MAX:
            raise FieldError(key, "number: digits, optionally with a decimal part, at most 32")
        return text
    if kind == "character_string":
        if not text.isascii():
            raise FieldError(key, "character_string: ASCII only")
        return text[:STRING_MAX]
    if kind == "letter":
        if not (text.isascii() and text.isalpha()):
            raise FieldError(key, "letter: letters only")
        return text[:STRING_MAX]
    if kind == "symbol":
        return text[:SYMBOL_MAX]
    if kind == "amount":
        if not _AMOUNT.match(text):
            raise FieldError(key, "amount: a currency sign and at most 10 digits")
        return text
    if kind == "phone_number":
        if not re.match(r"^[\d+\-() ]+$", text) or len(text) > PHONE_MAX:
            raise FieldError(key, "phone_number: at most 17 digits and symbols")
        return text
    if kind == "car_number":
        return text[:CAR_MAX]
    return cut(text, THING_MAX)  # an unknown type: kept to the strictest common length


def fit_data(data: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Every field of ``data`` (``{"thing1": {"value": …}}``) fitted by :func:`fit_value`; raises
    :class:`FieldError` at the first value that cannot be fitted."""
    out: dict[str, dict[str, str]] = {}
    for key, entry in data.items():
        value = entry.get("value") if isinstance(entry, Mapping) else entry
        if value is None:
            raise FieldError(str(key), "missing value")
        out[str(key)] = {"value": fit_value(str(key), value)}
    return out
