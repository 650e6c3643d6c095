"""What every evidence pack shares — a motion's (:mod:`app.voting.evidence`) and a questionnaire's
(:mod:`app.surveys.evidence`): the zip, its manifest, the roll and audit files, and the offline checks of
those. Each domain adds its own files (participation, the counted result) and their checks.

A pack is a zip of members stored uncompressed under fixed names, with dates fixed to 1980-01-01, and
``manifest.json`` last: ``format`` (``motion-evidence/1`` or ``questionnaire-evidence/1``: the command line
picks the check by it), the subject's id, ``roll_hash``, the export time and user, and ``files`` — the
sha256 of every other member. Shared members:

* ``roll.csv`` — ``household_id, building, unit, room, area_centi, owner_group`` (:data:`app.rules.roll.FIELDS`)
  as the roll stood at export; ``roll_amendments.csv`` — every amendment with its reason, the entry before and
  after (JSON), the roll hash after it, actor and time. Both through :mod:`app.core.spreadsheet` (a cell that
  starts with ``= + - @`` gets a leading ``'``, which the check takes off again).
* ``audit.jsonl`` — audit entries of the subject (and its ballots, for a motion) in chain order, each with
  ``seq``, ``prev_hash`` and ``hash``; the last line ``{"chain_head": {"chain", "seq", "hash"}}``.

The shared checks, naming the file of the first mismatch: every member against the manifest, none missing or
extra (:func:`read_members`); the roll hash recomputed from ``roll.csv`` (:func:`app.rules.roll.roll_hash`)
against the manifest and the last amendment (:func:`check_roll`); every audit entry's hash recomputed
(:func:`app.core.audit.entry_hash`), the chain order, the link of every two consecutive entries and the head
not behind the last entry (:func:`audit_entries`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import spreadsheet
from app.core.audit import entry_hash
from app.core.models import AuditEntry, AuditHead
from app.rules.roll import FIELDS, roll_hash

MANIFEST = "manifest.json"
ROLL_AMENDMENT_FIELDS = ("seq", "household_id", "action", "reason", "before", "after", "roll_hash", "actor_id",
                         "at")
_CHUNK = 500


# ---- building a pack -----------------------------------------------------------------------------

def json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def roll_csv(entries: Iterable[Any]) -> bytes:
    """``roll.csv`` from roll entries (objects with :data:`FIELDS`)."""
    rows: list[Sequence[spreadsheet.Value]] = [FIELDS]
    rows += [[e.household_id, e.building, e.unit, e.room, e.area_centi, e.owner_group] for e in entries]
    return spreadsheet.csv_bytes(rows)


def amendments_csv(amendments: Iterable[Any]) -> bytes:
    """``roll_amendments.csv`` from amendment rows (``seq``, ``household_id``, ``action``, ``reason``,
    ``before``, ``after``, ``roll_hash``, ``actor_id``, ``at``)."""
    rows: list[Sequence[spreadsheet.Value]] = [ROLL_AMENDMENT_FIELDS]
    rows += [[a.seq, a.household_id, a.action, a.reason,
              json.dumps(a.before, ensure_ascii=False, sort_keys=True) if a.before else None,
              json.dumps(a.after, ensure_ascii=False, sort_keys=True) if a.after else None,
              a.roll_hash, a.actor_id, a.at.isoformat()] for a in amendments]
    return spreadsheet.csv_bytes(rows)


async def audit_lines(session: AsyncSession, chain: str, entities: Sequence[tuple[str, Sequence[str]]], *,
                      skip_actions: Sequence[str] = ()) -> list[bytes]:
    """The chain's entries of the given entities ((entity type, ids)) but those of ``skip_actions``, in chain
    order, then the chain head."""
    entries: dict[int, AuditEntry] = {}
    base = select(AuditEntry).where(AuditEntry.chain == chain)
    if skip_actions:
        base = base.where(col(AuditEntry.action).not_in(list(skip_actions)))
    for entity_type, ids in entities:
        for i in range(0, len(ids), _CHUNK):
            q = base.where(AuditEntry.entity_type == entity_type, col(AuditEntry.entity_id).in_(list(ids[i:i + _CHUNK])))
            for e in (await session.exec(q)).all():
                entries[e.seq] = e
    head = await session.get(AuditHead, chain)
    lines = [json.dumps({"id": e.id, "chain": e.chain, "seq": e.seq, "at": e.at.isoformat(timespec="microseconds"),
                         "actor_id": e.actor_id, "action": e.action, "entity_type": e.entity_type,
                         "entity_id": e.entity_id, "data": e.data, "prev_hash": e.prev_hash, "hash": e.hash},
                        ensure_ascii=False, sort_keys=True).encode("utf-8")
             for _, e in sorted(entries.items())]
    lines.append(json.dumps({"chain_head": {"chain": chain, "seq": head.last_seq if head else 0,
                                            "hash": head.last_hash if head else None}}).encode("utf-8"))
    return lines


def manifest_digests(files: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """name → sha256 of every member (names unique, never the manifest's)."""
    names = [n for n, _ in files]
    assert len(set(names)) == len(names) and MANIFEST not in names, names
    return {n: hashlib.sha256(data).hexdigest() for n, data in files}


def zip_bytes(files: Sequence[tuple[str, bytes]], manifest: dict[str, Any]) -> bytes:
    """The pack as a zip (blocking: run it in a thread). Members are stored, not deflated: the CSV and JSON
    stay greppable inside the zip and photos are compressed already."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in [*files, (MANIFEST, json_bytes(manifest))]:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


# ---- checking a pack (no database) ---------------------------------------------------------------

class Mismatch(Exception):
    """The first thing in a pack that does not hold; the message names the file."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def unneutralise(text: str) -> str:
    """The text the spreadsheet writer was given: its one leading quote removed where it added one."""
    if text.startswith("'") and spreadsheet.neutralise(text[1:]) == text:
        return text[1:]
    return text


def read_csv(name: str, data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows as dicts with the writer's quotes taken off)."""
    try:
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Mismatch(f"{name}: not a readable CSV ({exc})") from None
    if not table:
        raise Mismatch(f"{name}: empty")
    header = table[0]
    if any(len(r) != len(header) for r in table[1:]):
        raise Mismatch(f"{name}: a row has the wrong number of cells")
    return header, [{k: unneutralise(v) for k, v in zip(header, r, strict=True)} for r in table[1:]]


def whole_number(name: str, value: str) -> int:
    if not value.isdigit():
        raise Mismatch(f"{name}: {value!r} is not a whole number")
    return int(value)


def read_json(name: str, members: dict[str, bytes]) -> Any:
    try:
        return json.loads(members[name])
    except (ValueError, KeyError):
        raise Mismatch(f"{name}: not JSON") from None


def open_pack(data: bytes) -> zipfile.ZipFile:
    """The zip (raises :class:`zipfile.BadZipFile`)."""
    return zipfile.ZipFile(io.BytesIO(data))


def pack_format(data: bytes) -> str | None:
    """The manifest's ``format`` (None when there is none to read)."""
    try:
        with open_pack(data) as z:
            value = json.loads(z.read(MANIFEST)).get("format")
    except (zipfile.BadZipFile, KeyError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def read_members(z: zipfile.ZipFile, required: Sequence[str]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(manifest, every other member): each member's sha256 against the manifest, none missing or extra, and
    the ``required`` ones present."""
    names = z.namelist()
    if MANIFEST not in names:
        raise Mismatch(f"{MANIFEST}: missing")
    try:
        manifest = json.loads(z.read(MANIFEST))
        listed: dict[str, str] = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise Mismatch(f"{MANIFEST}: not a manifest") from None
    members = {n: z.read(n) for n in names if n != MANIFEST}
    for n in sorted(set(listed) | set(members)):
        if n not in members:
            raise Mismatch(f"{n}: listed in the manifest but missing")
        if n not in listed:
            raise Mismatch(f"{n}: not listed in the manifest")
        if hashlib.sha256(members[n]).hexdigest() != listed[n]:
            raise Mismatch(f"{n}: sha256 does not match the manifest")
    for name in required:
        if name not in members:
            raise Mismatch(f"{name}: missing")
    return manifest, members


def check_roll(manifest: dict[str, Any], members: dict[str, bytes]) -> list[dict[str, Any]]:
    """The roll's entries from ``roll.csv``, its hash recomputed = the manifest's = the last amendment's."""
    entries: list[dict[str, Any]] = []
    for r in read_csv("roll.csv", members["roll.csv"])[1]:
        if set(FIELDS) - set(r):
            raise Mismatch("roll.csv: columns missing")
        entries.append({k: r[k] for k in FIELDS} | {"area_centi": whole_number("roll.csv", r["area_centi"])})
    if roll_hash(entries) != manifest.get("roll_hash"):
        raise Mismatch("roll.csv: the roll hash recomputed from it is not the manifest's roll_hash")
    _, amendments = read_csv("roll_amendments.csv", members["roll_amendments.csv"])
    if amendments and amendments[-1].get("roll_hash") != manifest.get("roll_hash"):
        raise Mismatch("roll_amendments.csv: the last amendment's roll_hash is not the manifest's roll_hash")
    return entries


def audit_entries(members: dict[str, bytes]) -> list[dict[str, Any]]:
    """The entries of ``audit.jsonl``, each hash recomputed, in chain order, consecutive seqs linked, and the
    chain head (the last line) not behind the last entry."""
    try:
        lines = [json.loads(line) for line in members["audit.jsonl"].decode("utf-8").splitlines() if line]
    except ValueError:
        raise Mismatch("audit.jsonl: not JSON lines") from None
    out: list[dict[str, Any]] = []
    head: dict[str, Any] | None = None
    prev: dict[str, Any] | None = None
    for d in lines:
        if head is not None:
            raise Mismatch("audit.jsonl: entries after the chain head")
        if "chain_head" in d:
            head = d["chain_head"]
            continue
        try:
            h = entry_hash(chain=d["chain"], seq=d["seq"], at=datetime.fromisoformat(d["at"]),
                           actor_id=d["actor_id"], action=d["action"], entity_type=d["entity_type"],
                           entity_id=d["entity_id"], data=d["data"], prev_hash=d["prev_hash"])
        except (KeyError, TypeError, ValueError):
            raise Mismatch("audit.jsonl: an entry is incomplete") from None
        if h != d["hash"]:
            raise Mismatch(f"audit.jsonl: entry seq {d['seq']} does not match its hash")
        if prev is not None:
            if d["chain"] != prev["chain"] or d["seq"] <= prev["seq"]:
                raise Mismatch(f"audit.jsonl: entry seq {d['seq']} is out of chain order")
            if d["seq"] == prev["seq"] + 1 and d["prev_hash"] != prev["hash"]:
                raise Mismatch(f"audit.jsonl: entry seq {d['seq']} does not link to seq {prev['seq']}")
        out.append(d)
        prev = d
    if head is None:
        raise Mismatch("audit.jsonl: the chain head is missing")
    if prev is not None and (head.get("chain") != prev["chain"] or head.get("seq", 0) < prev["seq"]
                             or (head.get("seq") == prev["seq"] and head.get("hash") != prev["hash"])):
        raise Mismatch("audit.jsonl: the chain head does not follow the entries")
    return out
