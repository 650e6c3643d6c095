"""The evidence pack of a closed questionnaire with an electoral roll, and the offline check (the same command
as motions') that names any changed file."""

from __future__ import annotations

import json
from datetime import timedelta

from app.surveys.evidence import verify_pack
from tests.factories import import_csv
from tests.surveys.helpers import answer, make_project, make_questionnaire, paper
from tests.voting.helpers import relogin
from tests.voting.test_evidence import cli, flip_last, members, rezip, see_choices, table, tamper

API = "/api/v1"


def answers(q: dict, agree: bool, want: str | None = None) -> list[dict]:
    """The willingness answer and, when given, the same choice for every catalog item that is voted on."""
    out = [{"question_id": q["questions"][0]["id"], "value": agree}]
    if want is not None:
        items = q["questions"][1]["items"]
        out.append({"question_id": q["questions"][1]["id"],
                    "value": {i["key"]: want for i in items if not i["mandatory"]}})
    return out


def _one_more_agree(results: dict) -> dict:
    results["willingness"]["tally"]["counts"]["agree_households"] += 1
    return results


async def closed_questionnaire(client, world, clock) -> tuple[dict, dict[str, bool]]:
    """A willingness questionnaire with the catalog's items, online and paper responses (one paper form entered
    twice), a roll amendment, closed; returns (questionnaire, household_id → counted willingness)."""
    # a room a spreadsheet would read as a formula: written quoted in roll.csv, hashed as the register has it
    r = await import_csv(client, world.staff, world.community_id, "building,unit,room,area_m2,owner_key\n2,2,-301,40.00,\n")
    assert r.status_code == 200, r.text
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, from_catalog=True)
    a, b = world.residents[0], world.residents[1]  # A: OWNER-A (3 households)
    assert (await answer(client, a.headers, q["id"], answers(q, True, "want"))).status_code == 200
    assert (await answer(client, b.headers, q["id"], answers(q, False, "dont_need"))).status_code == 200
    slip = world.household("2", "2", "201")["id"]
    assert (await paper(client, world, q["id"], slip, answers(q, True, "want"), note="入户 1")).status_code == 201
    clock.advance(seconds=5)
    assert (await paper(client, world, q["id"], slip, answers(q, False, "no_opinion"))).status_code == 201
    r = await client.post(f"{API}/questionnaires/{q['id']}/roll/amendments", headers=world.staff,
                          json={"household_id": world.household("2", "2", "102")["id"], "action": "remove",
                                "reason": "房屋已合并"})
    assert r.status_code == 201, r.text
    r = await client.get(f"{API}/questionnaires/{q['id']}/evidence.zip", headers=world.staff)
    assert r.status_code == 409 and r.json()["code"] == "survey.not_closed"
    clock.advance(seconds=5)
    assert (await client.post(f"{API}/questionnaires/{q['id']}/close", headers=world.staff)).status_code == 200
    return q, {a.household_id: True, b.household_id: False, slip: False}


async def download(client, world, qid: str) -> bytes:
    r = await client.get(f"{API}/questionnaires/{qid}/evidence.zip", headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    return r.content


async def test_pack_with_answers_verifies_and_names_any_changed_file(client, world, clock, tmp_path) -> None:
    await see_choices(client, world)
    q, willing = await closed_questionnaire(client, world, clock)
    r = await client.get(f"{API}/questionnaires/{q['id']}/evidence.zip", headers=world.residents[0].headers)
    assert r.status_code == 403
    data = await download(client, world, q["id"])
    files = members(data)
    assert set(files) == {"roll.csv", "roll_amendments.csv", "participation.csv", "results.json", "audit.jsonl",
                          "manifest.json"}
    manifest = json.loads(files["manifest.json"])
    served_roll = (await client.get(f"{API}/questionnaires/{q['id']}/roll", headers=world.staff)).json()
    assert manifest["format"] == "questionnaire-evidence/1" and manifest["questionnaire_id"] == q["id"]
    assert manifest["roll_hash"] == served_roll["roll_hash"] and manifest["staff_see_choices"] is True
    roll_rows = table(files["roll.csv"])
    assert "'-301" in {r["room"] for r in roll_rows} and len(roll_rows) == 12
    assert [x["action"] for x in table(files["roll_amendments.csv"])] == ["remove"]
    part = {p["household_id"]: p for p in table(files["participation.csv"])}
    assert {h: json.loads(p["answers"])[0]["value"] for h, p in part.items()} == willing
    paper_row = part[world.household("2", "2", "201")["id"]]
    assert (paper_row["channel"], paper_row["version"], paper_row["entered_by"]) == ("paper", "2", world.staff_user_id)
    assert part[world.residents[0].household_id]["entered_by"] == ""
    served = (await client.get(f"{API}/questionnaires/{q['id']}/results", headers=world.staff)).json()
    assert json.loads(files["results.json"]) == served
    lines = [json.loads(line) for line in files["audit.jsonl"].splitlines()]
    actions = [e["action"] for e in lines[:-1]]
    assert actions.count("survey.response_recorded") == 4
    assert {"questionnaire.created", "questionnaire.opened", "questionnaire.roll_frozen",
            "questionnaire.roll_amended", "questionnaire.closed"} <= set(actions)
    assert lines[-1]["chain_head"]["seq"] >= lines[-2]["seq"]

    verdict = verify_pack(data)
    assert verdict.ok and "answers recounted" in verdict.message and "3 households responded" in verdict.message
    path = tmp_path / "evidence.zip"
    path.write_bytes(data)
    done = cli(path)
    assert done.returncode == 0 and done.stdout.startswith("ok questionnaire "), done.stdout + done.stderr

    # one byte changed in any file: named
    for name in ("roll.csv", "roll_amendments.csv", "participation.csv", "results.json", "audit.jsonl"):
        bad = verify_pack(tamper(data, name, flip_last))
        assert not bad.ok and bad.message.startswith(f"{name}: sha256"), (name, bad.message)
    path.write_bytes(tamper(data, "participation.csv", flip_last))
    done = cli(path)
    assert done.returncode == 1 and done.stdout.startswith("MISMATCH participation.csv: sha256")
    # a file changed with the manifest rewritten to match: the content checks catch it
    room = roll_rows[0]["room"]
    a_answers = part[world.residents[0].household_id]["answers"]
    cases = {
        "roll.csv": (lambda b: b.replace(f'"{room}"'.encode(), f'"{room}X"'.encode(), 1), "roll hash"),
        "audit.jsonl": (lambda b: b.replace(b'"channel": "online"', b'"channel": "paper"', 1), "its hash"),
        "participation.csv": (lambda b: b.replace(b'"paper"', b'"online"'), "is not as its audit entry records"),
        "results.json": (lambda b: json.dumps(_one_more_agree(json.loads(b))).encode(),
                         "results.json: willingness counts.agree_households is 4, the roll and participation.csv "
                         "give 3"),
    }
    for name, (change, expected) in cases.items():
        changed = tamper(data, name, change, fix_manifest=True)
        assert members(changed)[name] != files[name], name
        bad = verify_pack(changed)
        assert not bad.ok and expected in bad.message, (name, bad.message)
    # A's answer turned from yes to no: not the answers the audit recorded
    forged = a_answers.replace('"value": true', '"value": false')
    assert forged != a_answers
    changed = tamper(data, "participation.csv",
                     lambda b: b.replace(a_answers.replace('"', '""').encode(), forged.replace('"', '""').encode()),
                     fix_manifest=True)
    bad = verify_pack(changed)
    assert bad.message.startswith("participation.csv: the answers of household"), bad.message
    # the recount of an item: the stated status no longer follows from the answers
    results = json.loads(files["results.json"])
    item = next(i for i in results["questions"][1]["items"] if i["tally"] is not None)
    item["tally"]["counts"]["total_households"] += 1
    bad = verify_pack(tamper(data, "results.json", lambda _: json.dumps(results).encode(), fix_manifest=True))
    assert bad.message == (f"results.json: item {item['key']} of {results['questions'][1]['question_id']} "
                           f"counts.total_households is 13, the roll and participation.csv give 12")
    extra = members(data) | {"extra.txt": b"x"}
    assert verify_pack(rezip(extra)).message == "extra.txt: not listed in the manifest"


async def test_pack_without_answers_recounts_participation(client, world, clock, tmp_path) -> None:
    q, willing = await closed_questionnaire(client, world, clock)  # Laoshan: staff_see_choices false
    data = await download(client, world, q["id"])
    files = members(data)
    part = table(files["participation.csv"])
    assert {p["household_id"] for p in part} == set(willing) and "answers" not in part[0]
    # the response entries carry a digest of the answers: not in a pack without answers
    actions = [json.loads(line).get("action") for line in files["audit.jsonl"].splitlines()]
    assert "survey.response_recorded" not in actions and "questionnaire.roll_frozen" in actions
    verdict = verify_pack(data)
    assert verdict.ok and "answers not in the pack" in verdict.message, verdict.message
    lines = files["participation.csv"].split(b"\r\n")
    fewer = b"\r\n".join(lines[:1] + lines[2:])
    bad = verify_pack(tamper(data, "participation.csv", lambda _: fewer, fix_manifest=True))
    assert bad.message.startswith("results.json: participation.households.count is 3"), bad.message
    path = tmp_path / "e.zip"
    path.write_bytes(tamper(data, "results.json", flip_last))
    done = cli(path)
    assert done.returncode == 1 and done.stdout.startswith("MISMATCH results.json"), done.stdout


async def test_pack_of_a_questionnaire_that_ended_untouched(client, world, clock, app) -> None:
    """It opened and ended by the clock with nobody touching it: the export freezes its roll first."""
    pid = await make_project(client, world)
    now = clock.now()
    q = await make_questionnaire(client, world, pid, opens_at=(now + timedelta(minutes=5)).isoformat(),
                                 closes_at=(now + timedelta(days=3)).isoformat())
    clock.advance(days=4)
    await relogin(client, world)
    data = await download(client, world, q["id"])
    verdict = verify_pack(data)
    assert verdict.ok and "(12 households)" in verdict.message and "0 households responded" in verdict.message
    manifest = json.loads(members(data)["manifest.json"])
    async with app.state.db.read_session() as s:
        from app.surveys.models import QuestionnaireRoll

        header = await s.get(QuestionnaireRoll, q["id"])
    assert header is not None and header.roll_hash == manifest["roll_hash"]
