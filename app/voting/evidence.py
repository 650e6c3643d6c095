"""The evidence pack of a closed motion (``GET /motions/{id}/evidence.zip``) and its offline check
(``python -m app evidence-verify FILE.zip``).

The zip holds (members stored uncompressed, names fixed):

* ``roll.csv`` — the roll as it stood at close: ``household_id, building, unit, room, area_centi,
  owner_group`` (the fields of :data:`app.voting.roll.FIELDS`), and ``roll_amendments.csv`` — every amendment
  with its reason, actor, time and the roll hash after it. Both through :mod:`app.core.spreadsheet`.
* ``participation.csv`` — one row per household with a current ballot: household, ballot id, building, unit, room,
  channel, cast time (UTC), the ballot's ``seq`` (order of casting), who entered a paper ballot (user id),
  ``receipt_digest`` (the stored keyed digest of the receipt, never the receipt), the slip file; and
  ``choice`` ONLY when the motion's frozen rules profile lets staff see choices (``staff_see_choices``).
* ``tally.json`` — the stored final tally, as ``GET /motions/{id}/tally`` serves it.
* ``notices.json`` — from publicity (:data:`app.voting.contracts.EVIDENCE_SOURCES`): the motion's notices with
  their objections and resolutions.
* ``audit.jsonl`` — the community chain's entries of the motion (entity ``motion``) and of its ballots (entity
  ``ballot``), in chain order, each with ``seq``, ``prev_hash`` and ``hash``; the last line is
  ``{"chain_head": {"chain", "seq", "hash"}}``, the chain's head when the pack was built.
* ``slips/<ballot_id>.<ext>`` — the stored (metadata-free) slip photo of every paper ballot version, and
  ``authorisations/<ballot_id>.<ext>`` the photo of the signed authorisation of every ballot a proxy cast
  (``participation.csv`` names the proxy, their relation and, for a double-entered slip, the checking clerk).
* ``manifest.json`` — motion id, roll hash, export time and the sha256 of every other member.

:func:`verify_pack` needs no database. In order, naming the file of the first mismatch: the member hashes
against the manifest (no member missing or extra); the roll hash recomputed from ``roll.csv`` with
:func:`app.rules.roll.roll_hash` (the spreadsheet writer's leading ``'`` taken off again) against the manifest
and the last amendment; the audit entries (each hash recomputed with :func:`app.core.audit.entry_hash`, each
link between consecutive seqs, the head not behind the last entry, every entry of this motion or its ballots,
the last audited roll hash = the manifest's, the counts audited at close — or by the last correction of the
count — = ``tally.json``'s); each slip against
the ``photo_sha256`` of its ballot's audit entry; each participation row against its ballot's audit entry
(household, seq, channel); and the tally: totals and participation from the roll always, and — where
``choice`` is present — the count per choice (an owner counts once, with all their households on the roll, by
the choice of their latest ballot) and the outcome under the tally's rule (:func:`app.rules.evaluate`).

Not covered: entries of the chain between the motion's own (other entities) are not in the pack, so a link is
checked only where two of the motion's entries are consecutive; ``python -m app audit-verify`` checks the
whole chain on the server. A text cell that itself starts with ``'`` followed by ``= + - @`` cannot be told
from a neutralised one and would make the roll hash check fail (never pass wrongly).

The zip, the manifest, ``roll.csv``, ``roll_amendments.csv``, ``audit.jsonl`` and their checks are shared with
the evidence packs of questionnaires (:mod:`app.core.evidence`).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.policy import Principal, authorize
from app.core import evidence as pack_files
from app.core import spreadsheet
from app.core.errors import Conflict
from app.core.evidence import MANIFEST, ROLL_AMENDMENT_FIELDS, Mismatch, Verdict
from app.media.storage import Storage
from app.rules import Choice, Counts, Rule, evaluate
from app.voting import repository as repo
from app.voting import service
from app.voting.contracts import EVIDENCE_SOURCES
from app.voting.models import Ballot, Channel, MotionStatus

__all__ = ["FORMAT", "MANIFEST", "PARTICIPATION_FIELDS", "ROLL_AMENDMENT_FIELDS", "Mismatch", "Pack", "Verdict",
           "gather", "verify_pack", "zip_bytes"]

FORMAT = "motion-evidence/1"
PARTICIPATION_FIELDS = ("household_id", "ballot_id", "building", "unit", "room", "channel", "cast_at", "seq", "entered_by",
                        "receipt_digest", "slip", "checked_by", "proxy_name", "proxy_relation", "authorisation")
_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_PAGE = 1000


@dataclass(frozen=True)
class Pack:
    motion_id: str
    roll_hash: str
    files: list[tuple[str, bytes]]  # every member but the manifest, in zip order
    manifest: dict[str, Any]


# ---- building the pack ---------------------------------------------------------------------------

_json = pack_files.json_bytes


async def _all_ballots(session: AsyncSession, m: Any) -> list[tuple[Ballot, bool]]:
    """Every ballot version of the motion in seq order, with whether it is current."""
    out: list[tuple[Ballot, bool]] = []
    after: int | None = None
    while True:
        rows = await repo.ballots_page(session, m, channel=None, after_seq=after, limit=_PAGE)
        out += [(b, current) for b, _b, _u, _r, current in rows[:_PAGE]]
        if len(rows) <= _PAGE:
            return out
        after = rows[_PAGE - 1][0].seq


async def _audit_lines(session: AsyncSession, chain: str, motion_id: str, ballot_ids: list[str]) -> list[bytes]:
    """The chain's entries of the motion and of its ballots, in chain order, then the chain head."""
    return await pack_files.audit_lines(session, chain, [("motion", [motion_id]), ("ballot", ballot_ids)])


async def gather(session: AsyncSession, *, principal: Principal, motion_id: str, storage: Storage,
                 now: datetime) -> Pack:
    """Everything the pack holds, read in the request's transaction (staff with ``motion.manage``; after close
    only: 409 ``motion.not_closed``)."""
    m = await service.motion_or_404(session, motion_id=motion_id)
    authorize(principal, "motion.manage", service.motion_scope(m=m))
    if service.status_of(m=m, now=now) != MotionStatus.CLOSED:
        raise Conflict("motion.not_closed", "表决结束后才能导出证据包", "The evidence pack is exported after close")
    tally = (await service.tally(session, principal=principal, motion_id=m.id, now=now)).model_dump(mode="json")
    state = await service.rule_state(session, m=m, now=now)
    header = await repo.get_roll(session, m.id)
    assert header is not None  # closing froze it
    entries = await repo.roll_entries(session, m.id)
    on_roll = {e.household_id: e for e in entries}
    files: list[tuple[str, bytes]] = [("roll.csv", pack_files.roll_csv(entries)),
                                      ("roll_amendments.csv",
                                       pack_files.amendments_csv(await repo.roll_amendments(session, m.id)))]

    from app.media import service as media_service

    ballots = await _all_ballots(session, m)
    slips: list[tuple[str, bytes]] = []
    slip_of: dict[str, str] = {}
    authorisation_of: dict[str, str] = {}
    for b, _current in ballots:
        for folder, media_id, names in (("slips", b.photo_media_id, slip_of),
                                        ("authorisations", b.proxy_media_id, authorisation_of)):
            media = await media_service.media_or_none(session, media_id=media_id) if media_id else None
            if media is not None:
                name = f"{folder}/{b.id}.{_EXT.get(media.mime, 'bin')}"
                slips.append((name, await storage.open_bytes(media.sha256)))
                names[b.id] = name
    see = state.staff_see_choices
    rows: list[Sequence[spreadsheet.Value]] = [list(PARTICIPATION_FIELDS) + (["choice"] if see else [])]
    for b, current in ballots:
        if not current:
            continue
        e = on_roll.get(b.household_id)
        rows.append([b.household_id, b.id, e.building if e else None, e.unit if e else None, e.room if e else None,
                     b.channel, b.cast_at.isoformat(), b.seq, b.actor_id if b.channel == Channel.PAPER else None,
                     b.receipt_hash, slip_of.get(b.id), b.checked_by, b.proxy_name, b.proxy_relation,
                     authorisation_of.get(b.id)] + ([b.choice] if see else []))
    files.append(("participation.csv", spreadsheet.csv_bytes(rows)))
    files.append(("tally.json", _json(tally)))
    for source in EVIDENCE_SOURCES:
        files += await source(session, motion_id=m.id)
    lines = await _audit_lines(session, m.community_id, m.id, [b.id for b, _ in ballots])
    files.append(("audit.jsonl", b"".join(line + b"\n" for line in lines)))
    files += slips
    manifest = {"format": FORMAT, "motion_id": m.id, "community_id": m.community_id, "title": m.title,
                "roll_hash": header.roll_hash, "frozen_hash": header.frozen_hash,
                "staff_see_choices": see, "exported_at": now.isoformat(), "exported_by": principal.user_id,
                "files": pack_files.manifest_digests(files)}
    return Pack(m.id, header.roll_hash, files, manifest)


def zip_bytes(pack: Pack) -> bytes:
    """The pack as a zip (blocking: run it in a thread); see :func:`app.core.evidence.zip_bytes`."""
    return pack_files.zip_bytes(pack.files, pack.manifest)


# ---- verifying a pack (no database) --------------------------------------------------------------

_csv = pack_files.read_csv
_int = pack_files.whole_number


def _check_members(z: zipfile.ZipFile) -> tuple[dict[str, Any], dict[str, bytes]]:
    return pack_files.read_members(z, ("roll.csv", "roll_amendments.csv", "participation.csv", "tally.json",
                                       "audit.jsonl"))


def _check_roll(manifest: dict[str, Any], members: dict[str, bytes]) -> list[dict[str, Any]]:
    return pack_files.check_roll(manifest, members)


def _check_audit(manifest: dict[str, Any], members: dict[str, bytes]) -> dict[str, dict[str, Any]]:
    """Hashes and links of the entries, and what they record of the motion: its roll hash, its final counts
    (against tally.json); returns ballot id → its audit entry's data."""
    motion_id = manifest.get("motion_id")
    ballots: dict[str, dict[str, Any]] = {}
    roll_hash: str | None = None
    closed: dict[str, Any] | None = None
    for d in pack_files.audit_entries(members):
        if d["entity_type"] == "ballot" and d["data"].get("motion_id") == motion_id:
            ballots[d["entity_id"]] = d["data"]
        elif d["entity_type"] == "motion" and d["entity_id"] == motion_id:
            roll_hash = d["data"].get("roll_hash", roll_hash)
            # the counts stored at close, or by the last correction of the count (app.voting.corrections)
            closed = d["data"] if d["action"] in ("motion.closed", "motion.result_corrected") else closed
        else:
            raise Mismatch(f"audit.jsonl: entry seq {d['seq']} is not of this motion")
    if roll_hash != manifest.get("roll_hash"):
        raise Mismatch("audit.jsonl: the roll hash last audited is not the manifest's roll_hash")
    try:
        counts = json.loads(members["tally.json"])["counts"]
    except (ValueError, KeyError, TypeError):
        raise Mismatch("tally.json: not a tally") from None
    if closed is None or closed.get("counts") != counts:
        raise Mismatch("tally.json: its counts are not the ones audited when the motion closed (or was last "
                       "corrected)")
    return ballots


def _check_slips(members: dict[str, bytes], ballots: dict[str, dict[str, Any]]) -> int:
    """Each slip photo and each proxy's signed authorisation against its ballot's audit entry; the number of
    slips."""
    n = 0
    for name, data in sorted(members.items()):
        folder, _, rest = name.partition("/")
        field = {"slips": "photo_sha256", "authorisations": "proxy_photo_sha256"}.get(folder)
        if field is None or not rest:
            continue
        audited = ballots.get(rest.rsplit(".", 1)[0])
        if audited is None or audited.get(field) != hashlib.sha256(data).hexdigest():
            raise Mismatch(f"{name}: not the photo its ballot's audit entry records")
        n += folder == "slips"
    return n


def _check_tally(entries: list[dict[str, Any]], members: dict[str, bytes],
                 ballots: dict[str, dict[str, Any]]) -> tuple[int, bool]:
    try:
        tally = json.loads(members["tally.json"])
        stated: dict[str, int] = tally["counts"]
    except (ValueError, KeyError, TypeError):
        raise Mismatch("tally.json: not a tally") from None
    header, rows = _csv("participation.csv", members["participation.csv"])
    with_choice = "choice" in header
    latest: dict[str, tuple[int, str | None]] = {}  # owner group -> (seq, choice) of their latest ballot
    group_of = {e["household_id"]: e["owner_group"] for e in entries}
    for r in rows:
        audited = ballots.get(r["ballot_id"], {})
        if (audited.get("household_id"), audited.get("seq"), audited.get("channel")) != (
                r["household_id"], _int("participation.csv", r["seq"]), r["channel"]):
            raise Mismatch(f"participation.csv: ballot {r['ballot_id']} is not as its audit entry records it")
        group = group_of.get(r["household_id"])
        if group is None:
            continue  # a ballot of a household no longer on the roll does not count
        seq = _int("participation.csv", r["seq"])
        if group not in latest or seq > latest[group][0]:
            latest[group] = (seq, r.get("choice"))
    households: dict[str, int] = {}
    area: dict[str, int] = {}
    for e in entries:
        households[e["owner_group"]] = households.get(e["owner_group"], 0) + 1
        area[e["owner_group"]] = area.get(e["owner_group"], 0) + e["area_centi"]
    got = {"total_households": len(entries), "total_owners": len(households), "total_area": sum(area.values())}
    if with_choice:
        for c in Choice:
            voted = [g for g, (_, choice) in latest.items() if choice == c.value]
            got |= {f"{c.value}_owners": len(voted), f"{c.value}_households": sum(households[g] for g in voted),
                    f"{c.value}_area": sum(area[g] for g in voted)}
    else:
        got |= {"participating_owners": len(latest),
                "participating_households": sum(households[g] for g in latest),
                "participating_area": sum(area[g] for g in latest)}
    for k, v in got.items():
        if stated.get(k) != v:
            raise Mismatch(f"tally.json: counts.{k} is {stated.get(k)}, the roll and participation.csv give {v}")
    if with_choice:
        counts = Counts(**got)
        try:
            outcome = evaluate(Rule.from_dict(tally["rule"]), counts, window_open=False).outcome.value
        except (KeyError, TypeError, ValueError):
            raise Mismatch("tally.json: the rule cannot be read") from None
        if outcome != tally.get("outcome"):
            raise Mismatch(f"tally.json: outcome is {tally.get('outcome')}, the recount gives {outcome}")
    return len(latest), with_choice


def verify_pack(data: bytes) -> Verdict:
    """Check an evidence pack (the zip's bytes); the first mismatch, naming its file, or an ok summary."""
    try:
        with pack_files.open_pack(data) as z:
            manifest, members = _check_members(z)
    except zipfile.BadZipFile:
        return Verdict(False, "not a zip file")
    except Mismatch as exc:
        return Verdict(False, str(exc))
    try:
        entries = _check_roll(manifest, members)
        ballots = _check_audit(manifest, members)
        slips = _check_slips(members, ballots)
        owners, recounted = _check_tally(entries, members, ballots)
    except Mismatch as exc:
        return Verdict(False, str(exc))
    how = "choices recounted" if recounted else "participation recounted (choices not in the pack)"
    return Verdict(True, f"ok motion {manifest.get('motion_id')}: {len(members)} files match the manifest, "
                         f"roll hash {manifest.get('roll_hash')} ({len(entries)} households), "
                         f"{len(ballots)} ballot audit entries linked, {slips} slips, {owners} owners voted, {how}")

