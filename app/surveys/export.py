"""Results as a table with Chinese headers: CSV (UTF-8 with BOM, so Excel and WPS open it cleanly) and
XLSX, both written by :mod:`app.core.spreadsheet` (text stays text, formula-like text is neutralised).
Built from :class:`app.surveys.schemas.Results`, so the export shows the same numbers as the API. The
builders are blocking: the routes run them in a thread."""

from __future__ import annotations

import re
from typing import Any

from openpyxl.styles import Alignment, Font

from app.core import spreadsheet
from app.surveys.catalog import CATEGORY_ZH, SELECTION_ZH
from app.surveys.models import QuestionType
from app.surveys.schemas import Results

HEADERS = ("类别", "题号", "题目", "选项/改造内容", "户数", "基数（户）", "占比", "百分比(%)", "结论")
CSV_TYPE = spreadsheet.CSV_TYPE
XLSX_TYPE = spreadsheet.XLSX_TYPE
STATUS_ZH = {"draft": "草稿", "scheduled": "未开始", "open": "进行中", "closed": "已结束"}
KIND_ZH = {"willingness": "意愿征询", "needs": "需求征询", "contribution": "出资意愿", "satisfaction": "满意度评价"}
OUTCOME_ZH = {"passed": "通过", "failed": "未通过", "pending": "待定"}
TYPE_ZH = {QuestionType.YES_NO: "是非题", QuestionType.SINGLE_CHOICE: "单选题", QuestionType.MULTIPLE_CHOICE: "多选题",
           QuestionType.CATALOG_ITEMS: "改造内容清单", QuestionType.RATING: "评分题", QuestionType.AMOUNT_FEN: "金额题",
           QuestionType.TEXT: "填空题"}


def _pct(p: str | None) -> str:
    return p if p is not None else "—"


def rows(r: Results) -> list[list[Any]]:
    """The table (without the header row)."""
    out: list[list[Any]] = [
        ["概况", "", "问卷", r.title, "", "", "", "", f"{KIND_ZH.get(r.kind.value, r.kind.value)}，"
                                                    f"{STATUS_ZH.get(r.status.value, r.status.value)}"],
        ["概况", "", "范围内户数", "", r.households_in_scope, "", "", "", ""],
        ["概况", "", "范围内业主人数", "", r.owners_in_scope, "", "", "", ""],
        ["概况", "", "范围内专有部分面积（㎡）", r.area_in_scope_m2, "", "", "", "", ""],
    ]
    hh = r.participation.households
    out.append(["参与", "", "参与户数", "", hh.count, hh.base, hh.share or "—", _pct(hh.percent), ""])
    ar = r.participation.area
    out.append(["参与", "", "参与面积（㎡）", f"{ar.area_m2} / {ar.total_m2}", "", "", ar.share or "—",
                _pct(ar.percent), ""])
    for ch, zh in (("online", "线上填写"), ("paper", "入户纸质问卷")):
        out.append(["参与", "", zh, "", r.participation.by_channel.get(ch, 0), "", "", "", ""])
    if r.willingness is not None:
        w = r.willingness
        counts = w.tally["counts"]
        out.append(["意愿表决", w.question_id, w.rule.get("description_zh", ""), "同意",
                    counts["agree_households"], counts["total_households"], "", "",
                    OUTCOME_ZH.get(w.outcome, w.outcome)])
        for c in w.tally["conditions"]:
            out.append(["意愿表决", w.question_id, c["label_zh"], f"需达到 {c['required']}"
                        + ("（含）" if c["inclusive"] else "（不含）"), c["numerator"], c["denominator"],
                        "", "", "满足" if c["met"] else "未满足"])
    for q in r.questions:
        kind = TYPE_ZH.get(q.type, q.type.value)
        out.append([kind, q.question_id, q.text, "作答户数", q.answered.count, q.answered.base,
                    q.answered.share or "—", _pct(q.answered.percent), ""])
        for o in q.options or []:
            out.append([kind, q.question_id, q.text, o.text, o.count, q.answered.count, o.share or "—",
                        _pct(o.percent), ""])
        for it in q.items or []:
            label = f"{it.seq}. {it.title}（{CATEGORY_ZH.get(it.category, it.category)}"
            label += f"，{SELECTION_ZH[it.selection]}）" if it.selection in SELECTION_ZH else "）"
            out.append([kind, q.question_id, q.text, label, it.want, it.want_of_all.base,
                        it.want_of_all.share or "—", _pct(it.want_of_all.percent),
                        f"{it.status_zh}（需要 {it.want}，不需要 {it.dont_need}，无所谓 {it.no_opinion}）"])
        if q.average_display is not None:
            out.append([kind, q.question_id, q.text, "平均分", "", q.answered.count, q.average or "",
                        "", q.average_display])
        if q.type is QuestionType.AMOUNT_FEN:
            out.append([kind, q.question_id, q.text, "合计（元）", "", q.answered.count, "", "",
                        f"{(q.total_fen or 0) // 100}.{(q.total_fen or 0) % 100:02d}"])
            if q.average_yuan is not None:
                out.append([kind, q.question_id, q.text, "户均（元）", "", q.answered.count, "", "", q.average_yuan])
    return out


SHARE_COLUMN = HEADERS.index("占比")


def to_csv(r: Results) -> bytes:
    table: list[list[Any]] = [list(HEADERS)]
    for row in rows(r):
        if isinstance(row[SHARE_COLUMN], str):  # "2/3" alone in a CSV cell would become a date in Excel
            row[SHARE_COLUMN] = row[SHARE_COLUMN].replace("/", " / ")
        table.append(row)
    return spreadsheet.csv_bytes(table)


def to_xlsx(r: Results) -> bytes:
    wb, ws = spreadsheet.workbook("统计结果")
    spreadsheet.append(ws, HEADERS)
    for c in ws[1]:
        c.font = Font(bold=True)
        c.alignment = Alignment(horizontal="center", vertical="center")
    for row in rows(r):
        spreadsheet.append(ws, row)
    for letter, width in zip("ABCDEFGHI", (10, 8, 36, 40, 8, 10, 10, 10, 36), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"
    return spreadsheet.xlsx_bytes(wb)


_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def filenames(r: Results, ext: str) -> tuple[str, str]:
    """(ASCII fallback, UTF-8 name) for Content-Disposition."""
    title = _UNSAFE.sub("_", r.title).strip() or "问卷"
    return f"questionnaire-{r.questionnaire_id}-results.{ext}", f"{title[:80]}-统计结果.{ext}"
