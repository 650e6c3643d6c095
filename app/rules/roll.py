"""An electoral roll's published figures, pure: the owner group of an entry, the canonical serialisation and
its hash, and the totals. Shared by the rolls of motions (:mod:`app.voting.roll`) and of questionnaires
(:mod:`app.surveys.roll`) and by the offline check of their evidence packs; no I/O.

An entry is ``household_id``, ``building``, ``unit``, ``room`` (text), ``area_centi`` (exclusive area in
0.01 m², a whole number) and ``owner_group`` — given as a mapping or as an object with those attributes.

``owner_group(roll_id, owner_key)``: the first 32 hex digits of ``sha256("roll-owner|" + roll_id + "|" +
owner_key)``, where ``roll_id`` is the motion's or the questionnaire's id (ids are random and never shared
between the two) and ``owner_key`` the register's keyed hash of the owner's identity. One owner's households
share the group within a roll; the group of one owner differs between rolls; neither is the stored key.

``roll_hash(entries)``: the SHA-256 (lowercase hex) of the UTF-8 bytes of one line per entry, sorted by
``household_id`` (byte order; ids are ASCII), each line::

    household_id \\t building \\t unit \\t room \\t area_centi \\t owner_group \\n

with ``area_centi`` in decimal digits and, inside the text fields, ``\\`` written as ``\\\\``, a tab as
``\\t``, a newline as ``\\n`` and a carriage return as ``\\r``. An empty roll hashes the empty string.

``totals(entries)``: (households, owners — distinct groups —, area).

``amendment_refusal(action, listed=, in_scope=)``: why an amendment (``add``, ``remove``, ``correct``) cannot be
made, or None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Literal

FIELDS = ("household_id", "building", "unit", "room", "area_centi", "owner_group")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def owner_group(roll_id: str, owner_key: str) -> str:
    """The per-roll digest of a (stored, already keyed) owner key."""
    return hashlib.sha256(f"roll-owner|{roll_id}|{owner_key}".encode()).hexdigest()[:32]


def _get(e: Any, k: str) -> Any:
    return e[k] if isinstance(e, Mapping) else getattr(e, k)


def canonical_line(e: Any) -> str:
    """One entry as its line of the canonical serialisation."""
    return "\t".join(str(_get(e, k)).translate(_ESCAPES) if k != "area_centi" else str(int(_get(e, k)))
                     for k in FIELDS) + "\n"


def roll_hash(entries: Iterable[Any]) -> str:
    """The roll hash of the entries (any order: they are sorted by household_id here)."""
    lines = sorted((canonical_line(e) for e in entries), key=lambda line: line.split("\t", 1)[0])
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8"))
    return h.hexdigest()


def totals(entries: Iterable[Any]) -> tuple[int, int, int]:
    """(households, distinct owner groups, summed area in 0.01 m²)."""
    n, groups, area = 0, set(), 0
    for e in entries:
        n += 1
        groups.add(_get(e, "owner_group"))
        area += int(_get(e, "area_centi"))
    return n, len(groups), area


def entry_dict(e: Any) -> dict[str, Any] | None:
    """An entry (mapping or object) as a plain dict of :data:`FIELDS`; None stays None."""
    return None if e is None else {k: _get(e, k) for k in FIELDS}


Refusal = Literal["out_of_scope", "not_listed", "already_listed"]


def amendment_refusal(action: str, *, listed: bool, in_scope: bool) -> Refusal | None:
    """Why an amendment of a roll cannot be made, or None. ``listed``: the household is on the roll;
    ``in_scope``: it is a household of the register in the roll's scope. ``remove`` needs it listed (a household
    neither listed nor in scope is out of scope); ``add`` needs it in scope and not listed; ``correct`` needs it in
    scope and listed."""
    if action == "remove":
        if not listed:
            return "not_listed" if in_scope else "out_of_scope"
        return None
    if not in_scope:
        return "out_of_scope"
    if action == "add" and listed:
        return "already_listed"
    if action == "correct" and not listed:
        return "not_listed"
    return None
