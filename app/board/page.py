"""The board's HTML: built with ``html.escape`` on every value that comes from data (notice and motion titles
are typed by people), large type for reading across a lobby, no script, no external asset. The one style
block is allowed by its hash in the Content-Security-Policy; the page reloads itself with a meta refresh."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from datetime import datetime
from html import escape

from app.board.service import BoardView
from app.publicity.service import OpenNotice
from app.rules import SHANGHAI
from app.turnout.service import OpenTurnout
from app.voting.service import PublishedResult

REFRESH_S = 60

CSS = """
html{background:#fff;color:#111}
body{margin:0;padding:2vw 3vw;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","Source Han Sans SC",sans-serif;
font-size:2.4vw;line-height:1.35}
h1{font-size:4vw;margin:0 0 1vw}
h2{font-size:3.2vw;margin:2.2vw 0 .8vw;border-bottom:.3vw solid #b22;padding-bottom:.3vw}
.card{border:.2vw solid #999;border-radius:1vw;padding:1vw 1.5vw;margin:0 0 1vw}
.title{font-size:3vw;font-weight:bold}
.tag{display:inline-block;background:#b22;color:#fff;border-radius:.6vw;padding:0 .8vw;margin-right:.8vw;
font-size:2.2vw;vertical-align:middle}
.big{font-size:3.4vw;font-weight:bold}
.pass{color:#060}.fail{color:#a00}
.muted{color:#555}
.empty{color:#555}
footer{margin-top:2vw;color:#555;font-size:1.8vw}
"""
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src '{CSS_HASH}'; img-src 'none'; script-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Robots-Tag": "noindex, nofollow",
           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}

OUTCOME_ZH = {"passed": "通过", "failed": "未通过"}
STAGE_ZH = {"provisional": "暂定结果", "final": "结果已确定"}
KIND_ZH = {"motion": "表决", "questionnaire": "问卷"}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _local(t: datetime) -> datetime:
    return t.astimezone(SHANGHAI)


def _date_zh(d: object) -> str:
    y, m, dd = str(d).split("-")
    return f"{int(y)}年{int(m)}月{int(dd)}日"


def _when_zh(t: datetime) -> str:
    lt = _local(t)
    return f"{lt.month}月{lt.day}日 {lt:%H:%M}"


def _closes_zh(n: OpenNotice) -> str:
    """"2026年11月30日 24:00" for a window ending at midnight (the usual case), else the closing minute."""
    lt = _local(n.closes_at)
    if (lt.hour, lt.minute) == (0, 0):
        return f"{_date_zh(n.end_date)} 24:00"
    return f"{_date_zh(lt.date())} {lt:%H:%M}"


def _page(title: str, body: Iterable[str], *, refresh: bool) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return ("<!DOCTYPE html>\n"
            '<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex, nofollow">{meta}'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def _notice(n: OpenNotice) -> str:
    if n.window_ended:
        left = f'公示期已满，尚有 <span class="big">{n.pending_objections}</span> 条异议待答复'
    else:
        left = f'还剩 <span class="big">{n.days_left}</span> 个工作日'
    provisional = '<span class="muted">（节假日安排未公布，按周一至周五计）</span>' if n.provisional else ""
    return (f'<div class="card notice"><div class="title"><span class="tag">{_e(n.kind_zh)}</span>{_e(n.title)}</div>'
            f"<div>公示期至 {_e(_closes_zh(n))}（北京时间），{left}{provisional}</div></div>")


def _open_item(t: OpenTurnout) -> str:
    closes = f"截止 {_e(_when_zh(t.closes_at))}" if t.closes_at is not None else "截止时间待定"
    return (f'<div class="card turnout"><div class="title"><span class="tag">{_e(KIND_ZH.get(t.item_type, t.item_type))}'
            f"</span>{_e(t.title)}</div>"
            f"<div>范围：{_e(t.scope_zh)} · {closes}</div>"
            f'<div>已参与 <span class="big">{t.households_answered} / {t.households_total}</span> 户'
            f"（{_e(t.households.percent)}）</div>"
            f'<div>专有面积 <span class="big">{_e(t.area.answered_m2)} / {_e(t.area.total_m2)}</span> m²'
            f"（{_e(t.area.percent)}）</div>"
            '<div class="muted">进行中，结果在截止后公示</div></div>')


def _result(r: PublishedResult) -> str:
    head = f'<div class="title">{_e(r.title)}</div>'
    if not r.published or r.outcome is None:
        return (f'<div class="card result">{head}<div>{_e(_when_zh(r.closed_at))} 截止 · '
                f"{_e(r.stage_detail)}</div></div>")
    cls = "pass" if r.outcome == "passed" else "fail"
    stage = STAGE_ZH.get(r.stage or "", "")
    lines = "".join(
        f"<li>{_e(c.label_zh)}：{_e(c.numerator)}/{_e(c.denominator)}，要求 {_e(c.required)}，"
        f"{'达到' if c.met else '未达到'}</li>" for c in r.conditions)
    return (f'<div class="card result">{head}'
            f'<div>表决结果：<span class="big {cls}">{_e(OUTCOME_ZH.get(r.outcome, r.outcome))}</span>'
            f"（{_e(stage)}）</div>"
            f'<div class="muted">{_e(r.stage_detail)}</div>'
            + (f"<ul>{lines}</ul>" if lines else "") + "</div>")


def _section(heading: str, cards: list[str], empty: str) -> str:
    return f"<section><h2>{_e(heading)}</h2>" + ("".join(cards) or f'<p class="empty">{_e(empty)}</p>') + "</section>"


def board_html(view: BoardView) -> str:
    """The board of one community at ``view.as_of``."""
    body = [
        f"<header><h1>{_e(view.community)} · 公示栏</h1></header>",
        _section("公示中", [_notice(n) for n in view.notices], "目前没有公示中的事项"),
        _section("正在进行的表决与问卷", [_open_item(t) for t in view.open_items], "目前没有进行中的表决或问卷"),
        _section("表决结果", [_result(r) for r in view.results], "暂无已结束的表决"),
        f"<footer>更新于 {_e(_local(view.as_of).strftime('%Y-%m-%d %H:%M'))}（北京时间），"
        f"本页每 {REFRESH_S} 秒自动刷新。不显示任何住户的选择或个人信息。</footer>",
    ]
    return _page(f"{view.community} · 公示栏", body, refresh=True)


def not_found_html() -> str:
    return _page("页面不存在", ["<h1>页面不存在</h1>"], refresh=False)


def too_many_html() -> str:
    return _page("请稍后再试", ["<h1>请求过于频繁，请稍后再试</h1>"], refresh=False)
