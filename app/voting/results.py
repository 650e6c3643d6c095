"""Staged results: how final a closed motion's result is.

A closed motion's stored result is ``provisional`` while residents may still challenge the count (询异):
its vote-result notice — the notice of the result's current revision — has not passed yet (scheduled, or
open, or failed because an objection to it was accepted), or an objection to any of the motion's
vote-result notices is still unanswered. It is ``final`` once that notice has passed (its window ended, no
objection pending or accepted) and no objection to an earlier revision's notice is pending either. Nothing
is stored for it: like a notice's status it is derived from the clock and the objections on every read, so
a result becomes final at 24:00 of its notice's last working day without any job running.

Publicity sits above voting, so the notices' state comes through :data:`app.voting.contracts.RESULT_PUBLICITY`
(registered by :mod:`app.wiring`). A correction (:mod:`app.voting.corrections`) stores revision n+1 and
republishes it: the new notice opens a fresh window and the result is provisional again until it passes. A
notice failed by an accepted objection with nothing to correct is answered by a ``reaffirm`` correction: the
same counts as revision n+1, republished, so that its window can run.

Not to be confused with the tally's ``final`` flag (:class:`app.voting.schemas.TallyPublic`): that one says the
tally is the stored count of a closed motion (not a live count) and is true at every stage; whether the
result stands is ``result_stage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.voting.contracts import RESULT_PUBLICITY, ResultNotice
from app.voting.models import Motion, MotionResult, MotionStatus
from app.voting.state import status_of

PROVISIONAL = "provisional"
FINAL = "final"


@dataclass(frozen=True)
class StageOfResult:
    """``stage`` None: the motion has not closed. ``revision`` None: closed but no result stored yet (the next
    write stores it). ``notice``: the motion's latest vote-result notice, if published."""

    stage: str | None
    revision: int | None
    notice: ResultNotice | None
    detail: str

    @property
    def final(self) -> bool:
        return self.stage == FINAL


def stage_of(*, closed: bool, revision: int | None, notice: ResultNotice | None) -> StageOfResult:
    """The stage of a motion's result from its stored revision and the state of its latest result notice."""
    if not closed:
        return StageOfResult(None, None, None, "表决尚未结束")
    if revision is None or notice is None:
        return StageOfResult(PROVISIONAL, revision, notice, "表决结果尚未公示")
    end = f"{notice.end_date.isoformat()} 24:00"
    if notice.revision < revision:
        detail = f"更正后的表决结果（第 {revision} 版）尚未公示"
    elif notice.status == "failed":
        detail = (f"表决结果公示（第 {notice.revision} 版）有 {notice.accepted} 条异议被采纳："
                  "须更正计票（或经复核维持原结果）并重新公示")
    elif notice.status == "scheduled":
        detail = f"表决结果公示尚未开始（{notice.start_date.isoformat()} 起，至 {end}），结果为暂定"
    elif notice.status == "open" and not notice.window_ended:
        detail = f"表决结果公示期未满（至 {end}），结果为暂定"
        if notice.pending:
            detail += f"，另有 {notice.pending} 条异议未答复"
    elif notice.pending:
        detail = f"表决结果公示期已满，但仍有 {notice.pending} 条异议未答复，结果为暂定"
    else:
        return StageOfResult(FINAL, revision, notice, f"表决结果公示已于 {end} 期满，结果已确定")
    return StageOfResult(PROVISIONAL, revision, notice, detail)


async def stages_for(session: AsyncSession, motions: Sequence[Motion], results: dict[str, MotionResult],
                     now: datetime) -> dict[str, StageOfResult]:
    """The stage of each motion's result (``results``: the stored ones, by motion id), with one question to
    publicity for the closed ones."""
    closed = [m.id for m in motions if status_of(m=m, now=now) == MotionStatus.CLOSED]
    notices = await RESULT_PUBLICITY.notice_reader()(session, motion_ids=closed, now=now) if closed else {}
    out = {}
    for m in motions:
        r = results.get(m.id)
        out[m.id] = stage_of(closed=m.id in closed, revision=r.revision if r else None, notice=notices.get(m.id))
    return out


async def stage_for(session: AsyncSession, m: Motion, result: MotionResult | None, now: datetime) -> StageOfResult:
    return (await stages_for(session, [m], {m.id: result} if result is not None else {}, now))[m.id]
