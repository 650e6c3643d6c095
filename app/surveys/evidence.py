"""The evidence pack of a closed questionnaire with an electoral roll (``GET /questionnaires/{id}/evidence.zip``)
and its offline check (``python -m app evidence-verify FILE.zip``, which picks this check by the manifest's
``format``).

The zip is built like a motion's (:mod:`app.core.evidence`: members stored, a manifest of sha256 digests) and
holds:

* ``roll.csv`` and ``roll_amendments.csv`` — the roll as it stood at export and every amendment (shared shape).
* ``participation.csv`` — one row per household with a current response: household, building, unit, room (from
  the roll; empty for a household no longer on it), ``channel`` (online / paper), ``answered_at`` (UTC),
  ``version`` (1 for the first response, +1 per replacement), ``entered_by`` (the staff user id of a paper
  response); and ``answers`` (the response's answers as JSON) ONLY when the questionnaire's frozen rules
  profile lets staff see choices (``staff_see_choices``).
* ``results.json`` — the results as ``GET …/results`` serves them to staff at export.
* ``audit.jsonl`` — the community chain's entries of the questionnaire (created, opened, roll frozen and
  amended, closed) in chain order, then the chain head. Its response entries (``survey.response_recorded``)
  carry an unkeyed sha256 of the answers, which a guess reverses for a yes/no question, so they are in the
  pack only where the answers are too (``staff_see_choices``).
* ``manifest.json`` — ``format`` ``questionnaire-evidence/1``, questionnaire id, roll hash, export time and
  user, and the sha256 of every other member.

:func:`verify_pack` needs no database and stops at the first mismatch, naming its file: the members against the
manifest; the roll hash from ``roll.csv`` = the manifest's = the last amendment's; every audit entry's hash, the
links between consecutive entries, the head, every entry of this questionnaire, the roll hash last audited =
the manifest's; where response entries are present, each participation row against its entry (household,
version, channel, and the sha256 of ``answers``); and the result: totals and participation (households, area,
channel) from the roll and ``participation.csv`` always, and — where ``answers`` is present — the willingness
rule's counts and outcome and every catalog item's counts and status, recounted one owner one choice (an owner
of several households on the roll answers through the one with the smallest id that responded, as
:func:`app.surveys.repository.owner_tally`).
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
from app.core.evidence import Mismatch, Verdict
from app.core.units import format_area
from app.rules import Counts, Rule, evaluate
from app.surveys import repository as repo
from app.surveys import roll
from app.surveys.common import auth_scope, effective_status, profile_of, questionnaire_or_404
from app.surveys.models import Channel, QuestionnaireStatus
from app.surveys.results import compute_results

FORMAT = "questionnaire-evidence/1"
PARTICIPATION_FIELDS = ("household_id", "building", "unit", "room", "channel", "answered_at", "version",
                        "entered_by")
RESPONSE_ACTION = "survey.response_recorded"
REQUIRED = ("roll.csv", "roll_amendments.csv", "participation.csv", "results.json", "audit.jsonl")
_PAGE = 1000


@dataclass(frozen=True)
class Pack:
    questionnaire_id: str
    roll_hash: str
    files: list[tuple[str, bytes]]  # every member but the manifest, in zip order
    manifest: dict[str, Any]


def answers_json(answers: list[dict[str, Any]]) -> str:
    """A response's answers as the pack writes them — the text whose sha256 the response's audit entry holds."""
    return json.dumps(answers, sort_keys=True, ensure_ascii=False)


# ---- building the pack ---------------------------------------------------------------------------

async def gather(session: AsyncSession, *, principal: Principal, questionnaire_id: str, now: datetime) -> Pack:
    """Everything the pack holds, read in the request's transaction (staff with ``survey.manage``; after close
    only: 409 ``survey.not_closed``; a questionnaire without a roll: 409 ``roll.none``)."""
    q = await questionnaire_or_404(session, questionnaire_id)
    authorize(principal, "survey.manage", auth_scope(q=q))
    if effective_status(q=q, now=now) is not QuestionnaireStatus.CLOSED:
        raise Conflict("survey.not_closed", "问卷结束后才能导出证据包", "The evidence pack is exported after close")
    q, header = await roll.frozen_roll(session, q, now)  # one that ended untouched is frozen now
    results = (await compute_results(session, q=q, now=now, staff=True)).model_dump(mode="json")
    see = (await profile_of(session, q))[1].staff_see_choices
    entries = await repo.roll_entries(session, q.id)
    on_roll = {e.household_id: e for e in entries}
    files: list[tuple[str, bytes]] = [("roll.csv", pack_files.roll_csv(entries)),
                                      ("roll_amendments.csv",
                                       pack_files.amendments_csv(await repo.roll_amendments(session, q.id)))]
    rows: list[Sequence[spreadsheet.Value]] = [list(PARTICIPATION_FIELDS) + (["answers"] if see else [])]
    after: str | None = None
    while True:
        page = await repo.responses_page(session, q.id, after=after, limit=_PAGE)
        for r in page:
            e = on_roll.get(r.household_id)
            rows.append([r.household_id, e.building if e else None, e.unit if e else None, e.room if e else None,
                         r.channel, r.updated_at.isoformat(), r.version,
                         r.actor_id if r.channel == Channel.PAPER else None]
                        + ([answers_json(r.answers)] if see else []))
        if len(page) < _PAGE:
            break
        after = page[-1].household_id
    files.append(("participation.csv", spreadsheet.csv_bytes(rows)))
    files.append(("results.json", pack_files.json_bytes(results)))
    lines = await pack_files.audit_lines(session, q.community_id, [("questionnaire", [q.id])],
                                         skip_actions=() if see else (RESPONSE_ACTION,))
    files.append(("audit.jsonl", b"".join(line + b"\n" for line in lines)))
    manifest = {"format": FORMAT, "questionnaire_id": q.id, "community_id": q.community_id, "title": q.title,
                "kind": q.kind, "roll_hash": header.roll_hash, "frozen_hash": header.frozen_hash,
                "staff_see_choices": see, "exported_at": now.isoformat(), "exported_by": principal.user_id,
                "files": pack_files.manifest_digests(files)}
    return Pack(q.id, header.roll_hash, files, manifest)


def zip_bytes(pack: Pack) -> bytes:
    """The pack as a zip (blocking: run it in a thread)."""
    return pack_files.zip_bytes(pack.files, pack.manifest)


# ---- verifying a pack (no database) --------------------------------------------------------------

def _check_audit(manifest: dict[str, Any], members: dict[str, bytes]) -> tuple[int, dict[tuple[str, int], dict[str, Any]]]:
    """Hashes and links of the entries, every one of this questionnaire, the roll hash last audited; returns
    (entries, (household, version) → the response entry's data)."""
    qid = manifest.get("questionnaire_id")
    responses: dict[tuple[str, int], dict[str, Any]] = {}
    audited_hash: str | None = None
    entries = pack_files.audit_entries(members)
    for d in entries:
        if d["entity_type"] != "questionnaire" or d["entity_id"] != qid:
            raise Mismatch(f"audit.jsonl: entry seq {d['seq']} is not of this questionnaire")
        if d["action"] == RESPONSE_ACTION:
            responses[(str(d["data"].get("household_id")), d["data"].get("version"))] = d["data"]
        audited_hash = d["data"].get("roll_hash", audited_hash)
    if audited_hash != manifest.get("roll_hash"):
        raise Mismatch("audit.jsonl: the roll hash last audited is not the manifest's roll_hash")
    return len(entries), responses


def _participation(members: dict[str, bytes],
                   responses: dict[tuple[str, int], dict[str, Any]]) -> tuple[list[dict[str, str]], bool]:
    """The rows of participation.csv, each against its response's audit entry where the pack has them;
    (rows, whether answers are included)."""
    header, rows = pack_files.read_csv("participation.csv", members["participation.csv"])
    if set(PARTICIPATION_FIELDS) - set(header):
        raise Mismatch("participation.csv: columns missing")
    with_answers = "answers" in header
    for r in rows:
        version = pack_files.whole_number("participation.csv", r["version"])
        if r["channel"] not in {c.value for c in Channel}:
            raise Mismatch(f"participation.csv: household {r['household_id']} has no channel")
        if not with_answers:
            continue
        audited = responses.get((r["household_id"], version))
        if audited is None or audited.get("channel") != r["channel"]:
            raise Mismatch(f"participation.csv: the response of household {r['household_id']} (version {version}) "
                           "is not as its audit entry records it")
        if hashlib.sha256(r["answers"].encode("utf-8")).hexdigest() != audited.get("answers_sha256"):
            raise Mismatch(f"participation.csv: the answers of household {r['household_id']} are not the ones "
                           "audited")
    return rows, with_answers


def _results(members: dict[str, bytes]) -> dict[str, Any]:
    results = pack_files.read_json("results.json", members)
    if not isinstance(results, dict) or not isinstance(results.get("participation"), dict):
        raise Mismatch("results.json: not the results of a questionnaire")
    return results


def _expect(what: str, stated: Any, got: Any) -> None:
    if stated != got:
        raise Mismatch(f"results.json: {what} is {stated}, the roll and participation.csv give {got}")


def _choice(answers: dict[str, Any], question_id: str, item: str | None) -> str | None:
    """A response's answer to a yes/no question ("yes"/"no") or to one catalog item (its choice)."""
    value = answers.get(question_id)
    if item is None:
        return None if not isinstance(value, bool) else ("yes" if value else "no")
    return value.get(item) if isinstance(value, dict) else None


def _recount(entries: list[dict[str, Any]], reps: dict[str, dict[str, Any]], question_id: str, item: str | None,
             choices: dict[str, str]) -> Counts:
    """One owner one choice: every owner group on the roll answers through its representative response."""
    households: dict[str, int] = {}
    area: dict[str, int] = {}
    for e in entries:
        households[e["owner_group"]] = households.get(e["owner_group"], 0) + 1
        area[e["owner_group"]] = area.get(e["owner_group"], 0) + e["area_centi"]
    values = {"total_households": len(entries), "total_owners": len(households), "total_area": sum(area.values())}
    for bucket in ("agree", "disagree", "abstain"):
        values |= {f"{bucket}_households": 0, f"{bucket}_owners": 0, f"{bucket}_area": 0}
    for group, answers in reps.items():
        counted = choices.get(_choice(answers, question_id, item) or "")
        if counted is None:
            continue
        values[f"{counted}_households"] += households[group]
        values[f"{counted}_owners"] += 1
        values[f"{counted}_area"] += area[group]
    return Counts(**values)


def _check_rule(what: str, tally: Any, rule_spec: Any, counts: Counts, stated_outcome: str | None) -> None:
    if not isinstance(tally, dict) or not isinstance(tally.get("counts"), dict):
        raise Mismatch(f"results.json: {what} has no tally")
    got = counts.to_dict()
    for k, v in got.items():
        _expect(f"{what} counts.{k}", tally["counts"].get(k), v)
    try:
        outcome = evaluate(Rule.from_dict(rule_spec), counts, window_open=False).outcome.value
    except (KeyError, TypeError, ValueError):
        raise Mismatch(f"results.json: the rule of {what} cannot be read") from None
    _expect(f"{what} outcome", stated_outcome, outcome)


def _check_results(entries: list[dict[str, Any]], rows: list[dict[str, str]], with_answers: bool,
                   members: dict[str, bytes]) -> None:
    results = _results(members)
    groups = {e["household_id"]: e["owner_group"] for e in entries}
    area_of = {e["household_id"]: e["area_centi"] for e in entries}
    _expect("households_in_scope", results.get("households_in_scope"), len(entries))
    _expect("owners_in_scope", results.get("owners_in_scope"), len(set(groups.values())))
    _expect("area_in_scope_m2", results.get("area_in_scope_m2"), format_area(sum(area_of.values())))
    counted = [r for r in rows if r["household_id"] in groups]
    part = results["participation"]
    _expect("participation.households.count", (part.get("households") or {}).get("count"), len(counted))
    _expect("participation.area.area_m2", (part.get("area") or {}).get("area_m2"),
            format_area(sum(area_of[r["household_id"]] for r in counted)))
    _expect("participation.by_channel", part.get("by_channel"),
            {c.value: sum(1 for r in counted if r["channel"] == c.value) for c in Channel})
    if not with_answers:
        return
    reps: dict[str, dict[str, Any]] = {}  # owner group -> answers of its smallest household that responded
    for r in sorted(counted, key=lambda r: r["household_id"]):
        if groups[r["household_id"]] in reps:
            continue
        try:
            answers = {a["question_id"]: a.get("value") for a in json.loads(r["answers"])}
        except (ValueError, TypeError, KeyError):
            raise Mismatch(f"participation.csv: the answers of household {r['household_id']} are not readable") from None
        reps[groups[r["household_id"]]] = answers
    w = results.get("willingness")
    if isinstance(w, dict):
        counts = _recount(entries, reps, str(w.get("question_id")), None, {"yes": "agree", "no": "disagree"})
        _check_rule("willingness", w.get("tally"), w.get("rule"), counts, w.get("outcome"))
    content = results.get("content_rule")
    items = {"want": "agree", "dont_need": "disagree", "no_opinion": "abstain"}
    for question in results.get("questions") or []:
        for it in question.get("items") or []:
            if it.get("tally") is None:
                continue
            counts = _recount(entries, reps, str(question.get("question_id")), str(it.get("key")), items)
            _check_rule(f"item {it.get('key')} of {question.get('question_id')}", it["tally"], content, counts,
                        it.get("status"))


def verify_pack(data: bytes) -> Verdict:
    """Check a questionnaire's evidence pack (the zip's bytes); the first mismatch, naming its file, or an ok
    summary."""
    try:
        with pack_files.open_pack(data) as z:
            manifest, members = pack_files.read_members(z, REQUIRED)
    except zipfile.BadZipFile:
        return Verdict(False, "not a zip file")
    except Mismatch as exc:
        return Verdict(False, str(exc))
    try:
        entries = pack_files.check_roll(manifest, members)
        audited, responses = _check_audit(manifest, members)
        rows, with_answers = _participation(members, responses)
        _check_results(entries, rows, with_answers, members)
    except Mismatch as exc:
        return Verdict(False, str(exc))
    how = "answers recounted" if with_answers else "participation recounted (answers not in the pack)"
    return Verdict(True, f"ok questionnaire {manifest.get('questionnaire_id')}: {len(members)} files match the "
                         f"manifest, roll hash {manifest.get('roll_hash')} ({len(entries)} households), {audited} "
                         f"audit entries linked, {len(rows)} households responded, {how}")
