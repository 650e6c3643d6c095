"""The one writer of the spreadsheets the service hands out (CSV and XLSX), so that a value someone typed
(a room name, a title, an answer) reaches Excel, WPS or LibreOffice as text and never as a formula
(OWASP "CSV Injection"). Every export builds its cells through here:

* A cell value is ``str``, ``int``, ``Decimal`` or ``None`` (empty); anything else is a ``TypeError`` (the
  caller formats dates, booleans and floats as text). Only ``int`` and ``Decimal`` become numbers: text is
  never read as a number, so ``-5`` (int) is the number -5 and ``"-5"`` (str) is text.
* Text whose first character is ``=``, ``+``, ``-``, ``@``, tab or carriage return, or whose first
  character after leading whitespace is one of ``= + - @`` or their full-width forms ``＝ ＋ － ＠``, gets one
  single quote ``'`` in front (OWASP's advice). Nothing else changes; the quote stays visible, which keeps the
  cell text even after a user re-saves the file as CSV and opens it again.
* Characters a spreadsheet file cannot hold (C0 controls other than tab, LF and CR; lone surrogates;
  U+FFFE/U+FFFF) become U+FFFD instead of failing the export.
* XLSX (openpyxl): every text cell is stored with data type ``s`` (an inline string), so no text is a formula
  (``f``) or an error value (``#N/A``); :func:`xlsx_bytes` checks every cell of every sheet again before
  saving, so a cell written around :func:`put`/:func:`append` is made safe the same way.
* CSV: UTF-8 with BOM (Excel and WPS then read it as UTF-8), CRLF line ends, every text field in double
  quotes (a ``,``, ``;`` or quote inside cannot start a new cell), numbers bare.

Building a workbook is blocking work: call :func:`xlsx_bytes` (and whatever builds the sheet) through
``asyncio.to_thread``, never directly in an ``async def``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from urllib.parse import quote

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.cell.cell import Cell, MergedCell
from openpyxl.worksheet.worksheet import Worksheet

Value = str | int | Decimal | None

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_FIRST = ("\t", "\r")
_AFTER_SPACE = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def neutralise(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet could run it as a formula (see the module doc)."""
    if text.startswith(_FIRST) or text.lstrip().startswith(_AFTER_SPACE):
        return "'" + text
    return text


def cell_value(value: Value) -> Value:
    """The value as it is written: numbers unchanged, text cleaned and neutralised."""
    if value is None or (isinstance(value, int | Decimal) and not isinstance(value, bool)):
        return value
    if isinstance(value, str):
        return neutralise(_UNWRITABLE.sub("\ufffd", value))
    raise TypeError(f"spreadsheet cells take str, int, Decimal or None, not {type(value).__name__}")


# ---- CSV -----------------------------------------------------------------------------------------

def csv_bytes(rows: Iterable[Sequence[Value]]) -> bytes:
    """The rows (header included) as CSV: UTF-8 with BOM, text quoted, numbers bare."""
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    for row in rows:
        w.writerow(["" if v is None else v for v in map(cell_value, row)])
    return buf.getvalue().encode("utf-8-sig")


# ---- XLSX ----------------------------------------------------------------------------------------

def workbook(title: str) -> tuple[Workbook, Worksheet]:
    """A new workbook and its one worksheet, named ``title``."""
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)
    ws.title = title
    return wb, ws


def _store(c: Cell, value: Value) -> None:
    c.value = cell_value(value)
    if isinstance(c.value, str):
        c.data_type = "s"  # openpyxl would otherwise read "=…" as a formula and "#N/A" as an error


def put(ws: Worksheet, row: int, column: int, value: Value) -> Cell:
    """Write one cell (1-based row and column) and return it for styling."""
    c = ws.cell(row=row, column=column)
    assert isinstance(c, Cell), "write a merged range through its top-left cell"
    _store(c, value)
    return c


def append(ws: Worksheet, values: Sequence[Value]) -> None:
    """Write ``values`` as the next row, like ``Worksheet.append``."""
    ws.append([cell_value(v) for v in values])


def xlsx_bytes(wb: Workbook) -> bytes:
    """The workbook as XLSX bytes, after making every cell of every sheet safe (blocking: run in a thread)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if not isinstance(c, MergedCell) and c.value is not None:
                    _store(c, c.value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- the HTTP response ---------------------------------------------------------------------------

def content_disposition(ascii_name: str, utf8_name: str) -> str:
    """attachment with an ASCII fallback and the UTF-8 name (RFC 6266 / 5987)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name, safe='')}"


def download(content: bytes, media_type: str, *, ascii_name: str, utf8_name: str) -> Response:
    """An export as a download: attachment, not cached, not sniffed."""
    return Response(content, media_type=media_type, headers={
        "Content-Disposition": content_disposition(ascii_name, utf8_name), "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})
