"""The composition root's wiring: what the domains above projects provide to it.

Projects declares its gates and ranking figures as protocols (:mod:`app.projects.gates`); this module — the
only one that sees every domain — registers each domain's provider, each domain's check of who may see
the files it stores (:mod:`app.media.visibility`), and turnout's outbox as the queue of supervision's
messages (:mod:`app.supervision.contracts`). ``create_app`` calls :func:`wire`, which refuses to start if
a gate some stage move needs, or a stored file's owner type, has no provider.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.contracts import DIRECTORY
from app.funding import service as funding_service
from app.media import visibility as media_visibility
from app.projects import service as projects_service
from app.projects.gates import PROVIDERS, GateState
from app.publicity import evidence as publicity_evidence
from app.publicity import files as publicity_files
from app.publicity import service as publicity_service
from app.register.contracts import REGISTER_CHANGE_LISTENERS
from app.register.service import HouseholdDirectory
from app.supervision import service as supervision_service
from app.supervision.contracts import OUTBOX as SUPERVISION_OUTBOX
from app.surveys import service as surveys_service
from app.turnout import messages as turnout_messages
from app.voting import files as voting_files
from app.voting import service as voting_service
from app.voting.contracts import (
    CLOSE_LISTENERS,
    EVIDENCE_SOURCES,
    PLAN_LISTENERS,
    RESULT_PUBLICITY,
    ROLL_FROZEN_LISTENERS,
    ClosedMotion,
    FrozenRoll,
)


async def _critical_reports(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    return await supervision_service.critical_reports_gate(session, project_id=project_id)


async def _acceptance(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    return await supervision_service.acceptance_gate(session, project_id=project_id)


async def _publish_vote_result(session: AsyncSession, *, closed: ClosedMotion, now: datetime) -> None:
    """Voting's close listener: publish the vote-result notice (the listener returns nothing)."""
    await publicity_service.publish_vote_result(session, closed=closed, now=now)


async def _publish_vote_notice(session: AsyncSession, *, frozen: FrozenRoll, now: datetime) -> None:
    """Voting's roll-frozen listener: publish the vote notice (投票公告)."""
    await publicity_service.publish_vote_notice(session, frozen=frozen, now=now)


def wire() -> None:
    """Register every provider (idempotent); raise if a needed one is missing."""
    DIRECTORY.households = HouseholdDirectory()
    PROVIDERS.gates.update({
        "survey_passed": surveys_service.willingness_gate,
        "motions_passed": voting_service.motions_gate,
        "publicity_passed": publicity_service.publicity_gate,
        funding_service.GATE_NAME: funding_service.funding_gate,
        "no_open_critical_reports": _critical_reports,
        "acceptance_signed": _acceptance,
    })
    if _publish_vote_result not in CLOSE_LISTENERS:
        CLOSE_LISTENERS.append(_publish_vote_result)
    if _publish_vote_notice not in ROLL_FROZEN_LISTENERS:
        ROLL_FROZEN_LISTENERS.append(_publish_vote_notice)
    if publicity_evidence.motion_notices not in EVIDENCE_SOURCES:
        EVIDENCE_SOURCES.append(publicity_evidence.motion_notices)
    if voting_service.results_evidence not in EVIDENCE_SOURCES:
        EVIDENCE_SOURCES.append(voting_service.results_evidence)
    # a vote result is final once its result notice has passed; a correction names an accepted objection
    RESULT_PUBLICITY.notices = publicity_service.result_notices
    RESULT_PUBLICITY.objection = publicity_service.result_objection
    if funding_service.on_plan_version not in PLAN_LISTENERS:  # the ledger follows each plan version
        PLAN_LISTENERS.append(funding_service.on_plan_version)
    if voting_service.freeze_open_rolls not in REGISTER_CHANGE_LISTENERS:
        REGISTER_CHANGE_LISTENERS.append(voting_service.freeze_open_rolls)
    # questionnaires are locked before voting's listener freezes motions, frozen after it (app.surveys.roll)
    if surveys_service.lock_open_rolls not in REGISTER_CHANGE_LISTENERS:
        REGISTER_CHANGE_LISTENERS.insert(0, surveys_service.lock_open_rolls)
    if surveys_service.freeze_open_rolls not in REGISTER_CHANGE_LISTENERS:
        REGISTER_CHANGE_LISTENERS.append(surveys_service.freeze_open_rolls)
    SUPERVISION_OUTBOX.queue = turnout_messages.queue_report_messages
    PROVIDERS.willingness = surveys_service.ranking_figures
    PROVIDERS.contribution = voting_service.ranking_figures
    missing = PROVIDERS.missing(projects_service.gate_names())
    if missing:
        raise RuntimeError(f"project providers missing: {', '.join(missing)}")
    media_visibility.CHECKS.update({
        "report": supervision_service.report_photo_visible,
        "report_rectification": supervision_service.report_photo_visible,
        "acceptance": supervision_service.acceptance_photo_visible,
        "paper_ballot": voting_files.paper_ballot_photo_visible,
        "paper_entry": voting_files.paper_ballot_photo_visible,
        "paper_proxy": voting_files.paper_ballot_photo_visible,
        "objection": publicity_files.objection_photo_visible,
        "notice_attachment": publicity_files.notice_attachment_visible,
    })
    unchecked = media_visibility.missing_checks()
    if unchecked:
        raise RuntimeError(f"no visibility check for stored files of: {', '.join(unchecked)}")
