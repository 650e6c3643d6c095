"""Printable documents: a small shared PDF toolkit on fpdf2 (A4, Chinese text, tables, QR codes).

Elderly residents vote on paper and committees print everything, so three domains hand out PDFs: the
register its activation letters, voting its ballot slips, publicity its notice posters. Each builds its pages
with :class:`Sheet` and answers with :class:`PdfResponse`.

Fonts. Chinese text is set in Droid Sans Fallback (Debian's ``fonts-droid-fallback``, Apache-2.0; one TrueType
file covering the CJK ideographs and full-width punctuation), added once per document and embedded as a subset
of the glyphs used. That font has no Latin letters or digits at all, so every Latin-1 character (digits, codes,
``m²``) is set in Helvetica, one of the 14 standard PDF fonts every reader has (nothing to embed): fpdf2's
fallback-font mechanism switches between the two inside a line (``_Pdf.get_fallback_font``). A character that
neither font has is replaced before it reaches fpdf2 (:meth:`Sheet.clean`): a few common ones by a look-alike,
anything else by ``?`` — never dropped silently. ``PDF_FONT_PATH`` names the font file; when it is missing the
document routes answer 503 ``documents.font_missing`` (:func:`font_file`), checked before anything is written.

QR codes are drawn from segno's module matrix as filled rectangles (vector: sharp at any printer resolution),
error correction level M, with the standard quiet zone of four modules.

Rendering. Building a few hundred pages is CPU work of seconds. :class:`PdfResponse` runs the build in a
worker thread when the response is sent — after the handler returned and the request's transaction has been
committed — so neither the event loop, nor a database lock (SQLite's one writer, an audit chain's head row)
waits for the layout. The handler does every read (and write) first and hands the build plain values only.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import anyio
import segno
from fastapi import Request
from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, WrapMode, XPos, YPos
from fpdf.fonts import FontFace
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import PROBLEM, AppError
from app.core.spreadsheet import content_disposition
from app.rules.calendar import SHANGHAI

log = logging.getLogger("app.printing")

PDF_TYPE = "application/pdf"
A4_WIDTH, A4_HEIGHT = 210.0, 297.0  # mm
MARGIN = 18.0  # mm, every side
QUIET_ZONE = 4  # modules of white around a QR code (ISO/IEC 18004)
_CJK = "cjk"
_LATIN = "helvetica"
_PT = 25.4 / 72  # mm per point

# characters common in typed Chinese text that neither font has, and what is printed instead
_LOOK_ALIKES = {
    "\u201c": "\u300c", "\u201d": "\u300d",  # “ ” → 「 」
    "\u2018": "'", "\u2019": "'",
    "\u2014": "--", "\u2013": "-", "\u2015": "--",  # dashes
    "\u2026": "...", "\u22ef": "...",
    "\u2022": "\u00b7", "\u25cf": "\u00b7",  # bullets → middle dot
    "\u221a": "v", "\u2713": "v", "\u2714": "v",
    "\u00a0": " ", "\u3000": "  ", "\t": "    ",
}


class FontMissing(AppError):
    status = 503
    code = "documents.font_missing"
    zh = "服务器缺少打印所需的中文字体，暂时无法生成 PDF 文件，请联系管理员"
    en = "The Chinese font for printed documents is not installed on the server; PDF documents are unavailable"


def font_file(settings: Settings) -> Path:
    """The CJK font the documents are set in; 503 ``documents.font_missing`` when ``PDF_FONT_PATH`` names no
    readable file (call it before any work a missing font would waste)."""
    path = Path(settings.pdf_font_path)
    if not path.is_file():
        log.warning("PDF font missing at %s (scripts/fetch_font.sh installs it)", path)
        raise FontMissing()
    return path


def wants_pdf(request: Request, format: str | None) -> bool:  # noqa: A002 - the API's parameter name
    """Whether a route that can answer JSON or PDF should answer PDF: ``?format=pdf``, or an ``Accept`` header
    that names ``application/pdf`` with a quality at least that of ``application/json`` (``*/*`` and no header
    mean JSON, the default). ``?format=json`` wins over any header."""
    if format is not None:
        return format == "pdf"
    quality: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if media:
            quality[media] = max(q, quality.get(media, 0.0))
    pdf = quality.get(PDF_TYPE, 0.0)
    return pdf > 0 and pdf >= quality.get("application/json", 0.0)


def qr_modules(content: str) -> list[list[bool]]:
    """The QR code of ``content`` (error correction M, never boosted, no micro codes) as rows of dark/light
    modules, the quiet zone included."""
    code = segno.make(content, error="m", boost_error=False, micro=False)
    rows = [[bool(v) for v in row] for row in code.matrix]
    width = len(rows[0]) + 2 * QUIET_ZONE
    blank = [[False] * width for _ in range(QUIET_ZONE)]
    side = [False] * QUIET_ZONE
    return blank + [side + row + side for row in rows] + [list(r) for r in blank]


def zh_date(d: date) -> str:
    """2026年11月23日"""
    return f"{d.year}年{d.month}月{d.day}日"


def zh_time(moment: datetime) -> str:
    """The Asia/Shanghai date and minute of an instant: 2026年11月23日 10:00."""
    local = moment.astimezone(SHANGHAI)
    return f"{zh_date(local.date())} {local:%H:%M}"


class _Pdf(FPDF):
    """fpdf2 with Helvetica as the fallback of the CJK font for Latin-1 characters (the CJK font has none), and
    an optional footer line on every page."""

    footer_line: str | None = None

    def get_fallback_font(self, char: str, style: str = "") -> str | None:
        return _LATIN if ord(char) < 256 else None

    def footer(self) -> None:
        """The footer line, centred; ``{nb}`` (the page count, known only when the PDF is written) is set in
        Helvetica, as fpdf2 fills it in with the font current where it stands."""
        if not self.footer_line:
            return
        pieces = self.footer_line.replace("{page}", str(self.page_no())).split("{nb}")
        self.set_font(_CJK, size=8)
        widths = [self.get_string_width(piece) for piece in pieces]
        nb_width = self.get_string_width("000")
        self.set_xy((A4_WIDTH - sum(widths) - nb_width * (len(pieces) - 1)) / 2, A4_HEIGHT - MARGIN + 4)
        for i, (piece, width) in enumerate(zip(pieces, widths, strict=True)):
            if i:
                self.set_font(_LATIN, size=8)
                self.cell(nb_width, 4, "{nb}")
                self.set_font(_CJK, size=8)
            if piece:
                self.cell(width, 4, piece)


class Sheet:
    """One PDF document being built: A4 portrait, millimetres, the CJK font added once (its subset embedded).

    Methods write at the current position and move it down, like a typewriter; ``x``/``y`` arguments place
    a thing absolutely without moving the cursor. Text is cleaned of characters no font has (:meth:`clean`).
    """

    def __init__(self, font: Path, *, title: str, created: datetime, subject: str = "") -> None:
        pdf = _Pdf(orientation="portrait", unit="mm", format="A4")
        pdf.set_margins(MARGIN, MARGIN, MARGIN)
        pdf.set_auto_page_break(auto=True, margin=MARGIN)
        pdf.set_font(_LATIN, size=12)  # registers the core font as a fallback candidate
        pdf.add_font(_CJK, fname=str(font))
        pdf.set_font(_CJK, size=12)
        pdf.set_fallback_fonts([_LATIN], exact_match=False)
        pdf.set_title(self._clean_meta(title))
        if subject:
            pdf.set_subject(self._clean_meta(subject))
        pdf.set_creator("cmty-renewal")
        pdf.set_lang("zh-CN")
        pdf.set_creation_date(created.astimezone(UTC))  # the app's clock, never the machine's
        self.pdf = pdf
        self._glyphs = frozenset(pdf.fonts[_CJK].cmap)  # type: ignore[union-attr]

    @staticmethod
    def _clean_meta(text: str) -> str:
        return "".join(ch for ch in text if ch.isprintable())[:200]

    # ---- text ----------------------------------------------------------------------------------------

    def clean(self, text: str) -> str:
        """``text`` as it can be printed: look-alikes for a few common characters neither font has, ``?`` for
        any other, control characters other than newlines dropped."""
        out: list[str] = []
        for ch in text.replace("\r\n", "\n").replace("\r", "\n"):
            if ch in _LOOK_ALIKES:
                out.append(_LOOK_ALIKES[ch])
            elif ch == "\n" or ord(ch) < 256 and ch.isprintable() or ord(ch) in self._glyphs:
                out.append(ch)
            elif unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp"):
                continue
            else:
                folded = unicodedata.normalize("NFKC", ch)
                out.append(folded if folded and all(ord(c) < 256 or ord(c) in self._glyphs for c in folded)
                           else "?")
        return "".join(out)

    def font(self, size: float) -> None:
        self.pdf.set_font(_CJK, size=size)

    def line_height(self, size: float, spacing: float = 1.45) -> float:
        return size * _PT * spacing

    def heading(self, text: str, *, size: float = 20, align: Literal["L", "C", "R"] = "C",
                gap: float = 4) -> None:
        """A title: larger, drawn a little heavier (the font has no bold: the glyphs are stroked too)."""
        pdf = self.pdf
        self.font(size)
        with pdf.local_context(text_mode="FILL_STROKE", line_width=size * 0.012, draw_color=(0, 0, 0)):
            pdf.multi_cell(0, self.line_height(size, 1.3), self.clean(text), align=Align.coerce(align),
                           wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    def paragraph(self, text: str, *, size: float = 12, align: Literal["L", "C", "R", "J"] = "L",
                  gap: float = 2, width: float = 0) -> None:
        """Wrapped text (at any character: Chinese has no spaces between words); newlines are kept; continues
        on a new page when it reaches the bottom margin."""
        self.font(size)
        self.pdf.multi_cell(width, self.line_height(size), self.clean(text), align=Align.coerce(align),
                            wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if gap:
            self.pdf.ln(gap)

    def fields(self, rows: Sequence[tuple[str, str]], *, size: float = 13, label_width: float = 32,
               gap: float = 3) -> None:
        """Label / value lines ("房号：301"), values wrapped beside their labels."""
        pdf = self.pdf
        self.font(size)
        h = self.line_height(size)
        for label, value in rows:
            y = pdf.get_y()
            if y + h > A4_HEIGHT - MARGIN:
                pdf.add_page()
                y = pdf.get_y()
            pdf.set_xy(MARGIN, y)
            pdf.cell(label_width, h, self.clean(label))
            pdf.set_xy(MARGIN + label_width, y)
            pdf.multi_cell(0, h, self.clean(value), wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(gap)

    def table(self, headings: Sequence[str], rows: Sequence[Sequence[str]], *, widths: Sequence[float],
              size: float = 10.5, align: Sequence[Literal["L", "C", "R"]] | None = None) -> None:
        """A ruled table (widths in mm, or relative); the headings row repeats on every page it spans."""
        pdf = self.pdf
        self.font(size)
        aligns = list(align) if align is not None else ["L"] * len(headings)
        with pdf.table(col_widths=tuple(widths), width=A4_WIDTH - 2 * MARGIN, line_height=self.line_height(size, 1.35),
                       text_align=tuple(Align.coerce(a) for a in aligns), wrapmode=WrapMode.CHAR,
                       headings_style=FontFace(emphasis="", fill_color=(230, 230, 230)),
                       borders_layout=TableBordersLayout.ALL, padding=1.2, repeat_headings=1) as t:
            head = t.row()
            for h in headings:
                head.cell(self.clean(h))
            for cells in rows:
                row = t.row()
                for c in cells:
                    row.cell(self.clean(c))
        pdf.ln(3)

    # ---- shapes --------------------------------------------------------------------------------------

    def qr(self, content: str, *, x: float, y: float, size: float) -> None:
        """The QR code of ``content`` as a ``size`` mm square (quiet zone included) with its top left corner
        at (x, y): each run of dark modules of a row is one rectangle, a hair taller than a module so that rows
        meet without a seam at any resolution, and all of them are filled as one path (one PDF operator per
        rectangle: a page of slips draws its code in about a millisecond)."""
        modules = qr_modules(content)
        unit = size / len(modules)
        pdf = self.pdf
        k, page_h = pdf.k, pdf.h
        ops: list[str] = []
        for r, row in enumerate(modules):
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                top = y + r * unit
                ops.append(f"{(x + start * unit) * k:.3f} {(page_h - top) * k:.3f} {(c - start) * unit * k:.3f} "
                           f"{-unit * 1.02 * k:.3f} re")
        with pdf.local_context(fill_color=(0, 0, 0)):
            pdf._out("\n".join(ops) + "\nf")  # fpdf2's own rect() writes the same operator, one call each

    def box(self, *, x: float, y: float, size: float) -> None:
        """An empty square to tick."""
        with self.pdf.local_context(line_width=0.4, draw_color=(0, 0, 0)):
            self.pdf.rect(x, y, size, size, style="D")

    def rule(self, *, x1: float, y: float, x2: float, width: float = 0.3) -> None:
        with self.pdf.local_context(line_width=width, draw_color=(0, 0, 0)):
            self.pdf.line(x1, y, x2, y)

    def text_at(self, text: str, *, x: float, y: float, size: float = 12, width: float = 0,
                align: Literal["L", "C", "R"] = "L") -> None:
        """One line of text whose top is at (x, y) (``width`` 0: to the right margin)."""
        pdf = self.pdf
        self.font(size)
        pdf.set_xy(x, y)
        w = width or (A4_WIDTH - MARGIN - x)
        pdf.cell(w, self.line_height(size, 1.2), self.clean(text), align=Align.coerce(align))

    # ---- pages ---------------------------------------------------------------------------------------

    def add_page(self) -> None:
        self.pdf.add_page()
        self.font(12)

    def footer(self, template: str) -> None:
        """A small centred line at the bottom of every page from now on; ``{page}`` is the page's number and
        ``{nb}`` the document's page count (filled in when the PDF is written), e.g.
        ``"第 {page} 页 / 共 {nb} 页"``."""
        self.pdf.footer_line = self.clean(template)

    @property
    def y(self) -> float:
        return float(self.pdf.get_y())

    @y.setter
    def y(self, value: float) -> None:
        self.pdf.set_y(value)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


class PdfResponse(Response):
    """A PDF download built in a worker thread when it is sent — after the handler has returned and the
    request's session dependency has committed — so the layout holds neither the event loop nor a
    transaction. ``build`` gets plain values only (no session, no ORM rows). Not cached (a letter carries
    secrets), an attachment with an ASCII and a UTF-8 file name."""

    media_type = PDF_TYPE

    def __init__(self, build: Callable[[], bytes], *, ascii_name: str, utf8_name: str, status_code: int = 200,
                 headers: dict[str, str] | None = None) -> None:
        self._build = build
        self._extra = {"Content-Disposition": content_disposition(ascii_name, utf8_name),
                       "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} | (headers or {})
        super().__init__(content=b"", status_code=status_code, media_type=PDF_TYPE, headers=self._extra)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.body = await anyio.to_thread.run_sync(self._build)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(len(self.body)).encode("latin-1")))
        await super().__call__(scope, receive, send)


FONT_MISSING_RESPONSE: dict[str, Any] = {
    "description": "`documents.font_missing`: the server has no CJK font for PDF documents",
    "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
}


def pdf_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of a route answering a PDF: the 200 and the 503 without a font."""
    return {200: {"content": {PDF_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                  "description": description},
            503: FONT_MISSING_RESPONSE}
