"""The evidence pack of a closed motion: what it holds, who may have it, and the offline check that catches a
change to any file of it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import app as app_package
from app.core.audit import entry_hash
from app.voting.evidence import verify_pack
from tests.factories import import_csv
from tests.voting.helpers import API, jpeg, make_motion, make_plan, make_project, paper, relogin, vote

ROOT = Path(app_package.__file__).resolve().parent.parent


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return buf.getvalue()


def tamper(data: bytes, name: str, change: Callable[[bytes], bytes], *, fix_manifest: bool = False) -> bytes:
    """The pack with one member changed (and, if asked, the manifest's digest of it updated to match)."""
    files = members(data)
    files[name] = change(files[name])
    if fix_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
        files["manifest.json"] = json.dumps(manifest).encode()
    return rezip(files)


def flip_last(b: bytes) -> bytes:
    return b[:-3] + bytes([b[-3] ^ 1]) + b[-2:]


def table(data: bytes) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", "evidence-verify", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


async def see_choices(client, world) -> None:
    prof = (await client.get(f"{API}/jurisdictions/{world.jurisdiction_id}", headers=world.admin)).json()["profile"]
    r = await client.put(f"{API}/jurisdictions/{world.jurisdiction_id}/profile", headers=world.admin,
                         json=prof | {"staff_see_choices": True})
    assert r.status_code == 200, r.text


async def closed_motion(client, world, clock) -> tuple[dict, dict[str, str]]:
    """A motion with online and paper ballots (one paper ballot entered twice), a roll amendment and an
    objection to its vote-result notice, closed; returns (motion, household_id → counted choice)."""
    clock.advance(seconds=1)
    # a room a spreadsheet would read as a formula: written quoted in roll.csv, hashed as the register has it
    r = await import_csv(client, world.staff, world.community_id,
                         "building,unit,room,area_m2,owner_key\n2,2,-301,40.00,\n")
    assert r.status_code == 200, r.text
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now())
    a = world.residents[0]  # 1-1-101, OWNER-A: 3 households
    assert (await vote(client, a.headers, m["id"], "agree")).status_code == 200
    b = world.residents[1]
    assert (await vote(client, b.headers, m["id"], "abstain")).status_code == 200
    slip = world.household("2", "2", "201")["id"]
    assert (await paper(client, world, m["id"], slip, "agree", photo=jpeg((200, 10, 10)))).status_code == 201
    clock.advance(seconds=5)
    assert (await paper(client, world, m["id"], slip, "disagree", photo=jpeg((10, 200, 10)))).status_code == 201
    r = await client.post(f"{API}/motions/{m['id']}/roll/amendments", headers=world.staff,
                          json={"household_id": world.household("2", "2", "102")["id"], "action": "remove",
                                "reason": "房屋已合并"})
    assert r.status_code == 201, r.text
    r = await client.get(f"{API}/motions/{m['id']}/evidence.zip", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "motion.not_closed"
    clock.advance(seconds=5)
    assert (await client.post(f"{API}/motions/{m['id']}/close", headers=world.staff)).status_code == 200
    notices = (await client.get(f"{API}/communities/{world.community_id}/notices", headers=a.headers,
                                params={"limit": 100})).json()["items"]
    notice = next(n for n in notices if n.get("motion_id") == m["id"] and n["kind"] == "vote_result")
    clock.advance(days=1)
    await relogin(client, world)
    r = await client.post(f"{API}/notices/{notice['id']}/objections", headers=a.headers,
                          json={"text": "=HYPERLINK(\"x\") 我家的票没有计入"})
    assert r.status_code == 201, r.text
    return m, {a.household_id: "agree", b.household_id: "abstain", slip: "disagree"}


async def download(client, world, motion_id: str) -> bytes:
    r = await client.get(f"{API}/motions/{motion_id}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    return r.content


async def test_evidence_pack_with_choices_verifies_and_names_any_changed_file(client, world, clock,
                                                                               tmp_path) -> None:
    await see_choices(client, world)
    m, choices = await closed_motion(client, world, clock)
    # staff only: residents and other roles are refused
    r = await client.get(f"{API}/motions/{m['id']}/evidence.zip", headers=world.residents[0].headers)
    assert r.status_code == 403
    data = await download(client, world, m["id"])
    files = members(data)
    slips = sorted(n for n in files if n.startswith("slips/"))
    assert len(slips) == 2 and all(n.endswith(".jpg") for n in slips)  # both versions of the paper ballot
    assert set(files) - set(slips) == {"roll.csv", "roll_amendments.csv", "participation.csv", "tally.json",
                                       "notices.json", "audit.jsonl", "manifest.json"}
    manifest = json.loads(files["manifest.json"])
    served_roll = (await client.get(f"{API}/motions/{m['id']}/roll", headers=world.staff)).json()
    assert manifest["motion_id"] == m["id"] and manifest["roll_hash"] == served_roll["roll_hash"]
    assert manifest["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in files.items() if n != "manifest.json"}
    # the roll, amendments, participation (with choices: the profile lets staff see them)
    roll_rows = table(files["roll.csv"])
    assert "'-301" in {r["room"] for r in roll_rows}  # neutralised by the spreadsheet writer
    assert len(roll_rows) == 12 and list(roll_rows[0]) == ["household_id", "building", "unit", "room",
                                                           "area_centi", "owner_group"]
    assert [a["action"] for a in table(files["roll_amendments.csv"])] == ["remove"]
    part = {p["household_id"]: p for p in table(files["participation.csv"])}
    assert {h: p["choice"] for h, p in part.items()} == choices
    paper_row = part[world.household("2", "2", "201")["id"]]
    assert paper_row["channel"] == "paper" and paper_row["entered_by"] == world.staff_user_id
    assert paper_row["slip"] in slips and len(paper_row["receipt_digest"]) == 64
    assert part[world.residents[0].household_id]["entered_by"] == ""
    # the slip is the stored, metadata-free photo as served
    hist = (await client.get(f"{API}/motions/{m['id']}/ballots", headers=world.staff,
                             params={"channel": "paper"})).json()["items"]
    served = await client.get(next(h["photo_url"] for h in hist if h["current"]), headers=world.staff)
    assert files[paper_row["slip"]] == served.content
    # the tally as served; the notices with the objection; the audit entries with the chain head
    served_tally = (await client.get(f"{API}/motions/{m['id']}/tally", headers=world.staff)).json()
    assert json.loads(files["tally.json"]) == served_tally
    notices = json.loads(files["notices.json"])["notices"]
    vote_result = next(n for n in notices if n["kind"] == "vote_result")
    assert vote_result["motion_id"] == m["id"]
    assert [o["text"] for o in vote_result["objections"]] == ["=HYPERLINK(\"x\") 我家的票没有计入"]
    lines = [json.loads(line) for line in files["audit.jsonl"].splitlines()]
    actions = [e["action"] for e in lines[:-1]]
    assert actions.count("ballot.cast") == 2 and actions.count("ballot.paper_entered") == 2
    assert {"motion.created", "motion.opened", "motion.roll_frozen", "motion.roll_amended",
            "motion.closed"} <= set(actions)
    assert lines[-1]["chain_head"]["seq"] >= lines[-2]["seq"]

    # the check: in-process, and as the command line
    verdict = verify_pack(data)
    assert verdict.ok, verdict.message
    assert "choices recounted" in verdict.message and "2 slips" in verdict.message
    path = tmp_path / "evidence.zip"
    path.write_bytes(data)
    done = cli(path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok motion ")

    # one byte changed in any file: named
    for name in ("roll.csv", slips[0], "audit.jsonl", "tally.json", "participation.csv", "notices.json"):
        bad = verify_pack(tamper(data, name, flip_last))
        assert not bad.ok and bad.message.startswith(f"{name}: sha256"), (name, bad.message)
    path.write_bytes(tamper(data, "roll.csv", flip_last))
    done = cli(path)
    assert done.returncode == 1 and "roll.csv" in done.stdout
    # a changed file with the manifest rewritten to match: the content checks catch it
    room = roll_rows[0]["room"]
    cases = {
        "roll.csv": lambda b: b.replace(f'"{room}"'.encode(), f'"{room}X"'.encode(), 1),
        "tally.json": lambda b: b.replace(b'"agree_households": 3', b'"agree_households": 4'),
        "audit.jsonl": lambda b: b.replace(b'"channel": "online"', b'"channel": "paper"', 1),
        slips[0]: lambda b: b[:-2] + b"\x00\xd9",
        "participation.csv": lambda b: b.replace(b'"abstain"', b'"agree"'),
    }
    expected = {"roll.csv": "roll hash", "tally.json": "audited when the motion closed", "audit.jsonl": "its hash",
                slips[0]: "audit entry", "participation.csv": "tally.json: counts.agree_owners"}
    for name, change in cases.items():
        changed = tamper(data, name, change, fix_manifest=True)
        assert members(changed)[name] != files[name], name
        bad = verify_pack(changed)
        assert not bad.ok and expected[name] in bad.message, (name, bad.message)
    # an entry rewritten with a freshly computed hash: the next entry no longer links to it
    seqs = {e["seq"] for e in lines[:-1]}
    forged = next(e for e in lines[:-1] if e["seq"] + 1 in seqs)
    forged["data"] = forged["data"] | {"forged": True}
    forged["hash"] = entry_hash(chain=forged["chain"], seq=forged["seq"], at=datetime.fromisoformat(forged["at"]),
                                actor_id=forged["actor_id"], action=forged["action"],
                                entity_type=forged["entity_type"], entity_id=forged["entity_id"],
                                data=forged["data"], prev_hash=forged["prev_hash"])
    text = b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in lines)
    bad = verify_pack(tamper(data, "audit.jsonl", lambda _: text, fix_manifest=True))
    assert bad.message == f"audit.jsonl: entry seq {forged['seq'] + 1} does not link to seq {forged['seq']}"
    # a paper ballot passed off as online: not what the ballot's audit entry records
    changed = tamper(data, "participation.csv", lambda b: b.replace(b'"paper"', b'"online"'), fix_manifest=True)
    bad = verify_pack(changed)
    assert not bad.ok and bad.message.startswith("participation.csv: ballot "), bad.message
    # a file added or taken away
    extra = members(data) | {"extra.txt": b"x"}
    assert verify_pack(rezip(extra)).message == "extra.txt: not listed in the manifest"
    fewer = {n: d for n, d in members(data).items() if n != slips[1]}
    assert verify_pack(rezip(fewer)).message == f"{slips[1]}: listed in the manifest but missing"
    assert verify_pack(b"not a zip").message == "not a zip file"


async def test_evidence_pack_without_choices_recounts_participation(client, world, clock, tmp_path) -> None:
    m, choices = await closed_motion(client, world, clock)  # Laoshan: staff_see_choices false
    data = await download(client, world, m["id"])
    files = members(data)
    part = table(files["participation.csv"])
    assert {p["household_id"] for p in part} == set(choices) and "choice" not in part[0]
    assert json.loads(files["manifest.json"])["staff_see_choices"] is False
    verdict = verify_pack(data)
    assert verdict.ok and "choices not in the pack" in verdict.message, verdict.message
    # one participant fewer: the participation recount no longer matches the stored tally
    lines = files["participation.csv"].split(b"\r\n")
    fewer = b"\r\n".join(lines[:1] + lines[2:])
    bad = verify_pack(tamper(data, "participation.csv", lambda _: fewer, fix_manifest=True))
    assert not bad.ok and bad.message.startswith("tally.json: counts.participating_"), bad.message
    # and the command line names it
    path = tmp_path / "e.zip"
    path.write_bytes(tamper(data, "tally.json", flip_last))
    done = cli(path)
    assert done.returncode == 1 and done.stdout.startswith("MISMATCH tally.json")


async def test_evidence_pack_of_a_motion_that_ended_by_its_deadline(client, world, clock) -> None:
    """Nobody closed it and no worker ran: the export stores the final tally first, as the tally read does."""
    pid = await make_project(client, world)
    plan = await make_plan(client, world, pid)
    m = await make_motion(client, world, plan["id"], clock.now())
    assert (await vote(client, world.residents[0].headers, m["id"], "agree")).status_code == 200
    clock.advance(days=8)
    await relogin(client, world)
    data = await download(client, world, m["id"])
    verdict = verify_pack(data)
    assert verdict.ok and "1 owners voted" in verdict.message, verdict.message
    actions = [json.loads(line).get("action") for line in members(data)["audit.jsonl"].splitlines()]
    assert "motion.closed" in actions
    assert json.loads(members(data)["tally.json"])["final"] is True
