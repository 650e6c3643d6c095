"""The composition root's wiring: what the domains above projects provide to it.

Projects declares its gates and ranking figures as protocols (:mod:`app.projects.gates`); this module — the
only one that sees every domain — registers each domain's provider. ``create_app`` calls :func:`wire`, which
refuses to start if a gate some stage move needs has no provider.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.contracts import DIRECTORY
from app.projects import service as projects_service
from app.projects.gates import PROVIDERS, GateState
from app.publicity import service as publicity_service
from app.register.service import HouseholdDirectory
from app.supervision import service as supervision_service
from app.surveys import service as surveys_service
from app.voting import service as voting_service
from app.voting.contracts import CLOSE_LISTENERS


async def _critical_reports(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    return await supervision_service.critical_reports_gate(session, project_id=project_id)


async def _acceptance(session: AsyncSession, *, project_id: str, now: datetime) -> GateState:
    return await supervision_service.acceptance_gate(session, project_id=project_id)


def wire() -> None:
    """Register every provider (idempotent); raise if a needed one is missing."""
    DIRECTORY.households = HouseholdDirectory()
    PROVIDERS.gates.update({
        "survey_passed": surveys_service.willingness_gate,
        "motions_passed": voting_service.motions_gate,
        "publicity_passed": publicity_service.publicity_gate,
        "no_open_critical_reports": _critical_reports,
        "acceptance_signed": _acceptance,
    })
    if publicity_service.publish_vote_result not in CLOSE_LISTENERS:
        CLOSE_LISTENERS.append(publicity_service.publish_vote_result)
    PROVIDERS.willingness = surveys_service.ranking_figures
    PROVIDERS.contribution = voting_service.ranking_figures
    missing = PROVIDERS.missing(projects_service.gate_names())
    if missing:
        raise RuntimeError(f"project providers missing: {', '.join(missing)}")
