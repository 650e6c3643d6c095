"""The printable door-to-door sheet (入户走访表) of the households that have not answered: one XLSX
worksheet, A4 fitted to the page width, header row repeated on every printed page, empty columns for the
visit result and the signature. Written by :mod:`app.core.spreadsheet` (room names, phones and titles stay
text, formula-like text is neutralised); blocking, so the service builds it in a thread."""

from __future__ import annotations

from decimal import Decimal

from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.properties import PageSetupProperties

from app.core import spreadsheet
from app.turnout.schemas import NonResponders

HEADERS = ("楼栋", "单元", "房号", "面积", "联系电话", "走访结果", "签名", "备注")
WIDTHS = (8, 8, 10, 11, 18, 26, 14, 22)
XLSX_TYPE = spreadsheet.XLSX_TYPE
REASON_ZH = {"no_wechat": "未绑定微信", "opted_out": "已退订提醒"}


def render(data: NonResponders, *, generated_zh: str) -> bytes:
    verb = "表决" if data.item_type == "motion" else "填写问卷"
    wb, ws = spreadsheet.workbook("入户走访")
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap = Alignment(vertical="center", wrap_text=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    title = spreadsheet.put(ws, 1, 1, f"{data.title} — 入户走访表（未{verb}住户）")
    title.font = Font(bold=True, size=14)
    title.alignment = center
    ws.row_dimensions[1].height = 26
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(HEADERS))
    summary = (f"范围内 {data.households_in_scope} 户，已{verb} {data.answered} 户，"
               f"未{verb} {data.non_responders} 户（其中需入户 {data.needs_visit} 户）。{generated_zh}")
    spreadsheet.put(ws, 2, 1, summary).alignment = wrap
    for i, name in enumerate(HEADERS, start=1):
        c = spreadsheet.put(ws, 3, i, name)
        c.font = Font(bold=True)
        c.alignment = center
        c.border = border
    row = 4
    for b in data.buildings:
        for u in b.units:
            for h in u.households:
                phones = "\n".join(m.phone for m in h.members if m.phone)
                values = (b.building, u.unit, h.room, Decimal(h.area_m2), phones, None, None,
                          REASON_ZH.get(h.visit_reason or "", None))
                for i, v in enumerate(values, start=1):
                    c = spreadsheet.put(ws, row, i, v)
                    c.border = border
                    c.alignment = center if i <= 4 else wrap
                ws.cell(row=row, column=4).number_format = "0.00"
                ws.row_dimensions[row].height = 30
                row += 1
    for i, w in enumerate(WIDTHS, start=1):
        ws.column_dimensions[ws.cell(row=3, column=i).column_letter].width = w
    ws.freeze_panes = "A4"
    ws.print_title_rows = "3:3"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "第 &P 页，共 &N 页"
    ws.oddHeader.right.text = "入户走访表"
    return spreadsheet.xlsx_bytes(wb)
