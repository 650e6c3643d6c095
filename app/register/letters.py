"""Activation letters (激活通知书): the printed form of issued activation codes, one A4 page per code.

Each page names the community and the household (building, unit, room), the relation the code is for, the
code in large type, when it expires (Asia/Shanghai), short instructions in Chinese, and a QR code the
mini-program scans: ``<MINIPROGRAM_ACTIVATE_PATH>?code=<code>``. Built from plain values in a worker thread
(:class:`app.core.printing.PdfResponse`); the codes exist only in this document and the response it is sent
in, as they do in the JSON answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from app.core.printing import MARGIN, Sheet, zh_time
from app.register.schemas import IssuedCode
from app.rules.display import building_words, place_key, unit_words

RELATION_ZH = {"owner": "业主", "co_owner": "共有产权人", "family": "家庭成员", "tenant": "租户"}
QR_SIZE = 48.0  # mm with its quiet zone: ~1.4 mm per module for a short path and code


def activation_link(path: str, code: str) -> str:
    """What the letter's QR code carries: the mini-program page and the code."""
    return f"{path}?code={quote(code, safe='-')}"


INSTRUCTIONS = (
    "1. 打开微信，进入本小区改造的小程序（可请家人或社区工作人员协助）。",
    "2. 在「激活」页面扫描本页二维码，或手动输入上面的激活码（不区分大小写）。",
    "3. 按提示填写姓名和手机号，完成激活后即可查看公示、参与意见征询和表决。",
    "4. 激活码只能使用一次，请在有效期内使用；遗失或过期请联系社区工作人员补发，补发后原激活码作废。",
    "5. 请妥善保管本通知书，不要把激活码告诉他人。不使用手机的居民可以继续使用纸质选票。",
)


def build(font: Path, *, community: str, items: Sequence[IssuedCode], activate_path: str,
          issued_at: datetime) -> bytes:
    """The letters as one PDF, in the order of ``items`` (one page each)."""
    sheet = Sheet(font, title=f"{community} 住户激活通知书", subject="activation letters", created=issued_at)
    if not items:
        sheet.add_page()
        sheet.heading(f"{community}\n住户激活通知书", size=20, gap=6)
        sheet.paragraph("本次没有发放激活码（所选房屋均已激活）。", size=13)
    ordered = sorted(items, key=lambda i: place_key(i.building, i.unit, i.room))
    sheet.footer("第 {page} 页 / 共 {nb}页")
    for item in ordered:
        sheet.add_page()
        sheet.heading(f"{community}\n住户激活通知书", size=20, gap=6)
        top = sheet.y
        sheet.fields([
            ("小区", community),
            ("楼栋", building_words(item.building)),
            ("单元", unit_words(item.unit)),
            ("房号", item.room),
            ("身份", RELATION_ZH.get(item.relation, item.relation)),
        ], size=15, label_width=24, gap=4)
        sheet.qr(activation_link(activate_path, item.code), x=210 - MARGIN - QR_SIZE, y=top, size=QR_SIZE)
        sheet.text_at("扫码激活", x=210 - MARGIN - QR_SIZE, y=top + QR_SIZE, size=10, width=QR_SIZE, align="C")
        sheet.y = max(sheet.y, top + QR_SIZE + 8)
        sheet.paragraph("激活码", size=13, gap=0)
        sheet.paragraph(item.code, size=28, gap=3)
        sheet.paragraph(f"有效期至：{zh_time(item.expires_at)}（北京时间）", size=13, gap=6)
        sheet.paragraph("如何激活", size=14, gap=1)
        for line in INSTRUCTIONS:
            sheet.paragraph(line, size=11.5, gap=1)
        sheet.paragraph(f"发放日期：{zh_time(issued_at)}", size=10, gap=0)
    return sheet.output()
