"""Notice posters (公示海报): a notice printed on A4 for the notice board of the community.

The poster carries the community, what kind of notice it is, its title and whole body (wrapped onto further
pages when long), the window — start and end date (Asia/Shanghai) and how many working days it runs (the
stored count, computed by :mod:`app.rules.calendar` when the notice was published) — how to object (in the
mini-program, or in writing to the committee, before the window closes), and a QR code that opens the
notice in the mini-program (``<MINIPROGRAM_NOTICE_PATH>?id=<notice id>``).

A vote-result notice's body (``vote_result_body``) lists every participating household as a line
``"  <place>  <area> m²"`` under the line ``"参与表决的房屋（共 N 户…）："``: the poster prints those lines as a
table of rooms and areas, and the rest of the body as text, so the printed notice says exactly what the
published one says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from app.core.printing import A4_HEIGHT, A4_WIDTH, MARGIN, Sheet, zh_date, zh_time
from app.rules.calendar import business_date, end_of_day

PARTICIPANTS_HEADER = "参与表决的房屋（共"
_PARTICIPANT = re.compile(r"^  (.+?)  (\d+\.\d{2}) m²$")
QR_SIZE = 40.0  # mm with the quiet zone


@dataclass(frozen=True)
class Poster:
    """What a poster prints (plain values, read before the PDF is built)."""

    notice_id: str
    community: str
    kind: str
    kind_zh: str
    title: str
    body: str
    start_date: date
    counting_starts: date
    partial_day_excluded: bool
    end_date: date
    closes_at: datetime
    working_days: int
    provisional: bool
    link: str  # what the QR code carries


def notice_link(*, path: str, notice_id: str) -> str:
    return f"{path}?id={notice_id}"


def split_participants(body: str) -> tuple[str, str | None, list[tuple[str, str]], str]:
    """A vote-result body as (text before the participants, their header line, (place, area) rows, text
    after); a body without that list is (body, None, [], "")."""
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(PARTICIPANTS_HEADER):
            rows: list[tuple[str, str]] = []
            j = i + 1
            while j < len(lines) and (m := _PARTICIPANT.match(lines[j])):
                rows.append((m.group(1), m.group(2)))
                j += 1
            return "\n".join(lines[:i]), line, rows, "\n".join(lines[j:])
    return body, None, [], ""


def closing_words(p: Poster) -> str:
    """When objections close: "2026年12月1日 24:00" for a window ending at midnight, else the minute."""
    if p.closes_at == end_of_day(p.end_date):
        return f"{zh_date(p.end_date)} 24:00"
    return zh_time(p.closes_at)


def window_words(p: Poster) -> str:
    text = f"公示期：{zh_date(p.start_date)} 至 {zh_date(p.end_date)}，共 {p.working_days} 个工作日"
    if p.partial_day_excluded:
        text += f"（发布当日不计入，自{zh_date(p.counting_starts)}起算）"
    if p.provisional:
        text += "（该年度法定节假日安排尚未公布，暂按周一至周五计算）"
    return text


def objection_words(p: Poster) -> str:
    return (f"如对本公示内容有异议，请在 {closing_words(p)}（北京时间）前提出：可扫描右侧二维码，在小程序中查看本公示"
            "并提出异议；也可以书面形式（写明姓名、房号、联系电话和异议理由）交社区居委会或业主委员会。")


def build(font: Path, *, poster: Poster, created: datetime) -> bytes:
    p = poster
    sheet = Sheet(font, title=p.title, subject=f"notice {p.notice_id}", created=created)
    sheet.footer(f"公示编号 {p.notice_id}  第 {{page}} 页 / 共 {{nb}}页")
    sheet.add_page()
    sheet.heading(f"{p.community}\n公示", size=30, gap=2)
    sheet.paragraph(f"（{p.kind_zh}）", size=13, align="C", gap=4)
    sheet.heading(p.title, size=17, gap=3)
    sheet.paragraph(window_words(p), size=12.5, gap=5)
    before, header, rows, after = split_participants(p.body)
    if before.strip():
        sheet.paragraph(before, size=12, gap=3)
    if header is not None:
        sheet.paragraph(header, size=12, gap=2)
        sheet.table(["序号", "房屋", "专有部分面积（m²）"],
                    [[str(i), place, area] for i, (place, area) in enumerate(rows, 1)],
                    widths=(1, 4, 2), size=10.5, align=("C", "L", "R"))
    if after.strip():
        sheet.paragraph(after, size=12, gap=3)
    # the objection block and the QR code stay together at the end
    text_width = A4_WIDTH - 2 * MARGIN - QR_SIZE - 6
    block = QR_SIZE + 16
    if sheet.y + block > A4_HEIGHT - MARGIN:
        sheet.add_page()
    sheet.y = sheet.y + 4
    top = sheet.y
    sheet.rule(x1=MARGIN, y=top - 2, x2=A4_WIDTH - MARGIN)
    sheet.paragraph("如何提出异议", size=13, gap=1, width=text_width)
    sheet.paragraph(objection_words(p), size=11.5, gap=2, width=text_width)
    sheet.qr(p.link, x=A4_WIDTH - MARGIN - QR_SIZE, y=top, size=QR_SIZE)
    sheet.text_at("扫码查看公示", x=A4_WIDTH - MARGIN - QR_SIZE, y=top + QR_SIZE, size=9, width=QR_SIZE,
                  align="C")
    sheet.y = max(sheet.y, top + QR_SIZE + 6)
    sheet.paragraph(f"打印日期：{zh_date(business_date(created))}", size=10, gap=0)
    return sheet.output()
