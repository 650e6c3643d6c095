"""Household import against hostile files (issue items 3 and 10): every unreadable workbook is a 422
``import.unreadable`` with nothing stored, look-alike names and numbers are refused row by row, and the
parse neither runs on the event loop nor holds SQLite's writer."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook

from app.register import importer
from tests.factories import all_households, populate_world
from tests.register import hostile_xlsx as hx
from tests.reliability.conftest import ADMIN_PASS, ADMIN_USER, _running_server
from tests.serverproc import ServerProcess


async def _post(client, headers: dict, cid: str, data: bytes, **extra):
    return await client.post(f"/api/v1/communities/{cid}/households:import", headers=headers | extra,
                             content=data)


async def test_every_hostile_workbook_is_unreadable_and_stores_nothing(client, world) -> None:
    for name, build in hx.HOSTILE.items():
        if name == "declared_dimension":
            continue
        data = build()
        r = await _post(client, world.staff, world.community_id, data)
        assert r.status_code == 422, (name, r.text)
        body = r.json()
        assert body["code"] == "import.unreadable", (name, body)
        assert body["detail"].startswith("无法读取该 XLSX 文件："), (name, body)
        en = await _post(client, world.staff, world.community_id, data, **{"Accept-Language": "en"})
        assert en.json()["detail"].startswith("The XLSX file cannot be read: "), (name, en.text)
    assert len(await all_households(client, world.staff, world.community_id)) == 12


async def test_unreadable_details_name_the_problem(client, world) -> None:
    en = {"Accept-Language": "en"}
    cases = {
        "billion_laughs": "DOCTYPE", "nul_reference": "invalid character", "raw_control_char": "not well-formed",
        "shared_index_out_of_range": "shared-string index 99 out of range", "nan": "no number (NaN)",
        "inf": "no number (inf)", "wide_row": "inflates to more than", "many_shared_strings": "inflates to more than",
        "size_lie": "not a valid XLSX", "many_members": "zip members", "malformed_sheet": "malformed XML",
    }
    for name, words in cases.items():
        r = await _post(client, world.staff, world.community_id, hx.HOSTILE[name](), **en)
        assert words in r.json()["detail"], (name, r.json()["detail"])
    r = await _post(client, world.staff, world.community_id, hx.numeric("1e400"), **en)
    assert "out of range" in r.json()["detail"]


async def test_declared_dimension_is_ignored(client, world) -> None:
    """A sheet claiming A1:XFD20002 with two real rows imports its one data row."""
    started = time.monotonic()
    r = await _post(client, world.staff, world.community_id, hx.declared_dimension(room="301"))
    assert time.monotonic() - started < 5  # the declared 327 million cells once took 38 s
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    assert world.household("1", "1", "101")  # untouched
    rooms = {(h["building"], h["unit"], h["room"]): h["area_m2"]
             for h in await all_households(client, world.staff, world.community_id)}
    assert rooms[("1", "1", "301")] == "80.50" and len(rooms) == 13


async def test_numeric_cells_read_as_excel_shows_them(client, world) -> None:
    """Excel stores 66.6 as 66.599999999999994; the import reads 15 significant digits like Excel shows."""
    r = await _post(client, world.staff, world.community_id,
                    hx.workbook(hx.sheet(hx.HEADER_ROW + hx.data_row(2, "3", "1", "101", "66.599999999999994"))))
    assert r.status_code == 200, r.text
    rows = await all_households(client, world.staff, world.community_id)
    assert [h["area_m2"] for h in rows if h["building"] == "3"] == ["66.60"]


async def test_resident_gets_403_not_the_parse_error(client, world) -> None:
    """The file is parsed before the transaction starts, but permission is still decided first."""
    r = await _post(client, world.residents[0].headers, world.community_id, hx.numeric("NaN"))
    assert r.status_code == 403


LOOKALIKE_CSV = (
    "building,unit,room,area_m2,owner_key\n"
    "1,1,301,1e3,\n"              # 2: exponent
    "1,1,302,1_000,\n"            # 3: underscore grouping
    "1,1,303,١٠٠,\n"              # 4: Arabic-Indic digits
    "1,1,304,\uff15\uff10,\n"     # 5: fullwidth digits
    "1,1,305,\"1,000\",\n"        # 6: thousands separator
    "1,1,306,+50,\n"              # 7: explicit sign
    "1,1,307,70.000,\n"           # 8: three places, even if zeros
    "1,1,30\u200b8,50,\n"         # 9: zero-width space in the room
    "1,1,\u202e309,50,\n"         # 10: right-to-left override
    "1\u2066,1,310,50,\n"         # 11: bidi isolate in the building
    "1,1,3\u00ad11,50,\n"         # 12: soft hyphen
    "1,1,312,50,K\u200d1\n"       # 13: zero-width joiner in the owner key
    "1,1,3\x0113,50,\n"           # 14: control character
    "1,1,\uff21101,50,\n"         # 15: fullwidth Ａ101 ...
    "1,1,A101,50,\n"              # 16: ... is the same room as A101
    "1,1,314,50.5,\n"             # 17: fine
)
LOOKALIKE_ERRORS = {
    (2, "area_m2", "non-numeric area"), (3, "area_m2", "non-numeric area"), (4, "area_m2", "non-numeric area"),
    (5, "area_m2", "non-numeric area"), (6, "area_m2", "non-numeric area"), (7, "area_m2", "non-numeric area"),
    (8, "area_m2", "area has more than two decimals"), (9, "room", "invisible or control character"),
    (10, "room", "invisible or control character"), (11, "building", "invisible or control character"),
    (12, "room", "invisible or control character"), (13, "owner_key", "invisible or control character"),
    (14, "room", "invisible or control character"), (16, "room", "duplicate room"),
}


def _as_xlsx(text: str) -> bytes:
    """Every cell a string, as typed into a text-formatted column; a control character written the way Excel
    writes one (``_x0001_``), since XML cannot hold it."""
    wb = Workbook()
    ws = wb.active
    for row in csv.reader(io.StringIO(text)):
        ws.append([re.sub(r"[\x00-\x1f]", lambda m: f"_x{ord(m.group()):04X}_", c) for c in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def test_lookalikes_refused_row_by_row_csv_and_xlsx(client, world) -> None:
    for fmt, data in (("csv", LOOKALIKE_CSV.encode()), ("xlsx", _as_xlsx(LOOKALIKE_CSV))):
        r = await _post(client, world.staff, world.community_id, data)
        assert r.status_code == 422, (fmt, r.text)
        body = r.json()
        assert body["code"] == "import.invalid_rows"
        assert {(e["line"], e["column"], e["reason"]) for e in body["errors"]} == LOOKALIKE_ERRORS, fmt
        dup = next(e for e in body["errors"] if e["reason"] == "duplicate room")
        assert dup["msg"] == "与第 15 行房号重复"
    assert len(await all_households(client, world.staff, world.community_id)) == 12


async def test_names_stored_nfkc_normalised(client, world) -> None:
    """Fullwidth letters, digits and ideographic spaces become their plain forms; the plain spelling of an
    imported room is then a duplicate."""
    csv_text = "楼栋,单元,房号,面积\n\uff11\uff10号楼,\uff12,\u3000\uff21\uff11\uff10\uff11\u3000,\uff15\uff10\n"
    r = await _post(client, world.staff, world.community_id, csv_text.encode())
    assert r.status_code == 422  # the fullwidth area is not a plain decimal
    csv_text = "楼栋,单元,房号,面积\n\uff11\uff10号楼,\uff12,\u3000\uff21\uff11\uff10\uff11\u3000,50\n"
    r = await _post(client, world.staff, world.community_id, csv_text.encode())
    assert r.status_code == 200, r.text
    rows = await all_households(client, world.staff, world.community_id)
    assert [(h["building"], h["unit"], h["room"]) for h in rows if h["building"].startswith("10")] == [
        ("10号楼", "2", "A101")]
    r = await _post(client, world.staff, world.community_id, "building,unit,room,area_m2\n10号楼,2,A101,60\n".encode())
    assert r.status_code == 422 and r.json()["errors"][0]["reason"] == "room already registered"


async def test_fullwidth_header_and_too_many_columns(client, world) -> None:
    r = await _post(client, world.staff, world.community_id,
                    "\uff42uilding,unit,room,area_m2\n5,1,101,50\n".encode())
    assert r.status_code == 200, r.text
    wide = "building,unit,room,area_m2" + ",," * 30 + "x\n5,1,102,50\n"
    r = await _post(client, world.staff, world.community_id, wide.encode())
    assert r.status_code == 422
    assert {e["reason"] for e in r.json()["errors"]} == {"too many columns"}
    far = hx.workbook(hx.sheet(hx.HEADER_ROW + '<row r="2"><c t="inlineStr"><is><t>5</t></is></c><c t="inlineStr">'
                                             '<is><t>1</t></is></c><c><v>103</v></c><c><v>50</v></c>'
                                             '<c r="AZ2"><v>7</v></c></row>'))
    r = await _post(client, world.staff, world.community_id, far)
    assert r.status_code == 422
    assert [(e["line"], e["reason"]) for e in r.json()["errors"]] == [(2, "too many fields")]


async def test_too_many_rows_stops_early(client, world, settings) -> None:
    settings.import_max_rows = 50
    r = await _post(client, world.staff, world.community_id, hx.many_rows(51))
    assert r.status_code == 413 and r.json()["code"] == "import.too_many_rows"
    r = await _post(client, world.staff, world.community_id, hx.many_rows(50, building="B"))
    assert r.status_code == 200 and r.json()["imported"] == 50


async def test_parse_neither_blocks_the_loop_nor_holds_the_writer(client, world, monkeypatch) -> None:
    """A 20,000-row workbook whose last row is bad is parsed and then refused. The parse is held (in its
    thread) until a write (a new community) and a health check have completed: were it on the event loop,
    or did the import's transaction hold SQLite's one writer while parsing, they could not complete and the
    held parse would time out. No wall-clock race decides the outcome."""
    data = hx.many_rows(19_999, bad_last=True)
    real_parse = importer.parse
    parse_started, others_done = threading.Event(), threading.Event()
    waited: list[bool] = []

    def held_parse(*args, **kwargs):
        parse_started.set()
        waited.append(others_done.wait(timeout=20))
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(importer, "parse", held_parse)

    async def do_import() -> None:
        r = await _post(client, world.staff, world.community_id, data)
        assert r.status_code == 422, r.text
        assert (20_001, "non-numeric area") in {(e["line"], e["reason"]) for e in r.json()["errors"]}

    async def do_write() -> None:
        assert await asyncio.to_thread(parse_started.wait, 20)  # the import has reached its parse
        r = await client.post("/api/v1/communities", headers=world.admin,
                              json={"jurisdiction_id": world.jurisdiction_id, "name": "并发写入",
                                    "built_date": "1999-01-01"})
        assert r.status_code == 201, r.text
        r = await client.get("/healthz")
        assert r.status_code == 200
        others_done.set()

    await asyncio.wait_for(asyncio.gather(do_import(), do_write()), timeout=60)
    assert waited == [True]


# ---- against a real server process ---------------------------------------------------------------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _running_server(tmp_path)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.mark.slow
def test_hostile_workbooks_against_a_real_server(server: ServerProcess) -> None:
    """Each hostile file is answered with a 4xx within 2 s, the server's memory grows by less than 100 MB,
    and /healthz, polled all the while, keeps answering within 100 ms (90th percentile). Two files keep a
    parse thread busy for a while: ``element_flood`` (the slowest file the caps let through) and 20,000 rows
    refused for the last one; /healthz keeps answering during those imports too (a parse on the event loop
    would let at most one answer through)."""
    files = {name: build() for name, build in hx.HOSTILE.items()}
    files["element_flood"] = hx.element_flood()
    files["20k_rows_last_bad"] = hx.many_rows(19_999, bad_last=True, building="Z")
    pid = server.proc.pid

    async def run() -> tuple[dict, list[tuple[float, float]], int, int]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as c:
            world = await populate_world(c, ADMIN_USER, ADMIN_PASS, residents=0)
            for data in (hx.many_rows(3, building="W"), files["nan"]):  # warm up imports, regexes, threads
                assert (await _post(c, world.staff, world.community_id, data)).status_code < 500
            await c.get("/healthz")
            base_rss, base_hwm = _status_kb(pid, "VmRSS"), _status_kb(pid, "VmHWM")
            healthz: list[tuple[float, float]] = []  # (answered at, latency)
            peak = [base_rss]
            stop = asyncio.Event()

            async def poll() -> None:
                async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as hc:
                    while not stop.is_set():
                        t0 = time.monotonic()
                        assert (await hc.get("/healthz")).status_code == 200
                        healthz.append((time.monotonic(), time.monotonic() - t0))
                        peak[0] = max(peak[0], _status_kb(pid, "VmRSS"))
                        await asyncio.sleep(0.02)

            poller = asyncio.create_task(poll())
            await asyncio.sleep(0.1)
            answers: dict[str, tuple[int, str, float, float]] = {}  # status, code, started, finished
            for name, data in files.items():
                t0 = time.monotonic()
                r = await _post(c, world.staff, world.community_id, data)
                answers[name] = (r.status_code, r.json().get("code", ""), t0, time.monotonic())
            await asyncio.sleep(0.1)
            stop.set()
            await poller
            hwm = _status_kb(pid, "VmHWM")
            growth_kb = (hwm if hwm > base_hwm else peak[0]) - base_rss
            households = len(await all_households(c, world.staff, world.community_id))
            return answers, healthz, growth_kb, households

    answers, healthz, growth_kb, households = asyncio.run(run())
    latencies = sorted(latency for _, latency in healthz)
    p90 = latencies[len(latencies) * 9 // 10]
    print({name: (status, code, round(t1 - t0, 3)) for name, (status, code, t0, t1) in answers.items()})
    print(f"healthz n={len(latencies)} p50={latencies[len(latencies) // 2] * 1000:.1f} ms p90={p90 * 1000:.1f} ms "
          f"max={latencies[-1] * 1000:.1f} ms; RSS growth {growth_kb / 1024:.1f} MB")
    expected = {"declared_dimension": "import.invalid_rows",  # read: its one row is already registered
                "20k_rows_last_bad": "import.invalid_rows", "element_flood": "import.empty"}
    for name, (status, code, t0, t1) in answers.items():
        assert 400 <= status < 500 and code == expected.get(name, "import.unreadable"), (name, status, code)
        if name in ("element_flood", "20k_rows_last_bad"):
            during = [at for at, latency in healthz if t0 + latency < at < t1]
            assert len(during) >= 3, (name, t1 - t0, len(during))
        else:
            assert t1 - t0 < 2, (name, t1 - t0)
    assert households == 12 + 3
    assert growth_kb < 100 * 1024
    assert p90 < 0.1 and latencies[-1] < 2, (p90, latencies[-1])


async def test_names_longer_than_the_register_holds_are_row_errors(client, world) -> None:
    """A room of 31 characters (the register keeps 30) is a row error on every database, not a 500."""
    room, building = "R" * 31, "B" * 51
    text = f"building,unit,room,area_m2\n5,1,{room},50\n{building},1,101,50\n5,1,{'R' * 30},50\n"
    r = await _post(client, world.staff, world.community_id, text.encode())
    assert r.status_code == 422, r.text
    assert {(e["line"], e["column"], e["reason"]) for e in r.json()["errors"]} == {
        (2, "room", "too long"), (3, "building", "too long")}
    assert len(await all_households(client, world.staff, world.community_id)) == 12
