"""The shared PDF toolkit (app/core/printing.py): which answer a client asked for, text no font can print,
QR codes with their quiet zone, and the build running in a worker thread after the handler returned."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import httpx
import pytest
import segno
from fastapi import FastAPI, Request
from pypdf import PdfReader

from app.core.printing import QUIET_ZONE, PdfResponse, Sheet, qr_modules, wants_pdf
from tests.conftest import DEFAULT_NOW
from tests.documents.helpers import page_qr_codes


def _request(accept: str | None) -> Request:
    headers = [(b"accept", accept.encode())] if accept is not None else []
    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""})


@pytest.mark.parametrize(("accept", "fmt", "pdf"), [
    (None, None, False),
    ("*/*", None, False),
    ("application/json", None, False),
    ("application/pdf", None, True),
    ("application/pdf, application/json;q=0.9", None, True),
    ("application/json, application/pdf;q=0.5", None, False),
    ("application/pdf;q=0", None, False),
    ("application/pdf;q=oops", None, False),
    ("text/html, application/pdf;q=0.8, */*;q=0.1", None, True),
    ("application/json", "pdf", True),
    ("application/pdf", "json", False),
])
def test_which_answer_was_asked_for(accept: str | None, fmt: str | None, pdf: bool) -> None:
    assert wants_pdf(_request(accept), fmt) is pdf


def test_text_is_cleaned_to_what_the_fonts_have(cjk_font: Path) -> None:
    sheet = Sheet(cjk_font, title="t", created=DEFAULT_NOW)
    assert sheet.clean("幸福里 101室 86.45 m²") == "幸福里 101室 86.45 m²"  # CJK, Latin-1 (Helvetica) unchanged
    assert sheet.clean("“加装电梯”——请注意…") == "「加装电梯」----请注意..."
    assert sheet.clean("表情😀与控制\x07字符\r\n换行") == "表情?与控制字符\n换行"
    assert sheet.clean("ＡＢＣ１２３") == "ＡＢＣ１２３"  # the full-width forms are in the CJK font
    sheet.add_page()
    sheet.paragraph(sheet.clean("“引号”") + " S1-abc ✓ 🏠")
    text = PdfReader(io.BytesIO(sheet.output())).pages[0].extract_text()
    assert "「引号」 S1-abc v ?" in text


def test_qr_modules_have_the_quiet_zone_and_level_m() -> None:
    content = "pages/notice/index?id=" + "a" * 32
    modules = qr_modules(content)
    symbol = segno.make(content, error="m", boost_error=False, micro=False)
    assert symbol.error == "M"
    assert len(modules) == len(modules[0]) == symbol.symbol_size(border=QUIET_ZONE)[0]
    for edge in (modules[:QUIET_ZONE], modules[-QUIET_ZONE:], [r[:QUIET_ZONE] for r in modules],
                 [r[-QUIET_ZONE:] for r in modules]):
        assert not any(any(row) for row in edge)
    assert modules[QUIET_ZONE][QUIET_ZONE:QUIET_ZONE + 7] == [True] * 7  # the finder pattern's top row


def test_a_small_qr_code_still_scans_when_printed_at_its_size(cjk_font: Path) -> None:
    sheet = Sheet(cjk_font, title="t", created=DEFAULT_NOW)
    sheet.add_page()
    code = "S1-" + "0" * 32 + "-" + "f" * 32 + "-" + "1" * 20
    sheet.qr(code, x=20, y=20, size=42)
    sheet.footer("第 {page} 页 / 共 {nb}页")
    pdf = sheet.output()
    assert page_qr_codes(pdf, dpi=100) == [[code]]  # a coarse office scan still reads it
    assert "第 1 页 / 共 1" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


async def test_the_build_runs_in_a_worker_thread_after_the_handler_returned() -> None:
    seen: dict[str, object] = {}
    app = FastAPI()

    @app.get("/doc")
    async def doc() -> PdfResponse:
        seen["loop_thread"] = threading.get_ident()

        def build() -> bytes:
            seen["build_thread"] = threading.get_ident()
            seen["handler_done"] = "returned" in seen
            return b"%PDF-1.4 test"

        seen["returned"] = True
        return PdfResponse(build, ascii_name="x.pdf", utf8_name="文件.pdf", headers={"X-Extra": "1"})

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/doc")
    assert r.status_code == 200 and r.content == b"%PDF-1.4 test"
    assert r.headers["content-length"] == str(len(r.content)) and r.headers["x-extra"] == "1"
    assert r.headers["content-type"] == "application/pdf" and r.headers["cache-control"] == "no-store"
    assert seen["build_thread"] != seen["loop_thread"] and seen["handler_done"] is True
