"""Project endpoints: create, view (with every gate's state), list, advance; the street office's ranking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.deps import PrincipalDep
from app.core.clock import ClockDep
from app.core.db import SessionDep
from app.core.pagination import Page, PageParams, page_params
from app.core.routing import api_router
from app.projects import service
from app.projects.schemas import AdvanceRequest, ProjectCreate, ProjectPublic, ProjectSummary, Ranking

router = api_router("projects")


@router.post("/communities/{community_id}/projects", response_model=ProjectPublic, status_code=201,
             operation_id="project_create")
async def create_project(community_id: str, body: ProjectCreate, session: SessionDep, principal: PrincipalDep,
                         clock: ClockDep) -> ProjectPublic:
    """Staff/admin start a project in an eligible community (409 `project.community_ineligible` otherwise)."""
    return await service.create_project(session, principal=principal, community_id=community_id, body=body,
                                        now=clock.now())


@router.get("/communities/{community_id}/projects", response_model=Page[ProjectSummary],
            operation_id="project_list")
async def list_projects(community_id: str, session: SessionDep, principal: PrincipalDep,
                        page: Annotated[PageParams, Depends(page_params)]) -> Page[ProjectSummary]:
    return await service.list_projects(session, principal=principal, community_id=community_id, page=page)


@router.get("/projects/{project_id}", response_model=ProjectPublic, operation_id="project_get")
async def get_project(project_id: str, session: SessionDep, principal: PrincipalDep,
                      clock: ClockDep) -> ProjectPublic:
    """Stage, the gates of the next move and of every gated move (met or not, with figures), history."""
    return await service.get_project(session, principal=principal, project_id=project_id, now=clock.now())


@router.post("/projects/{project_id}/advance", response_model=ProjectPublic, operation_id="project_advance")
async def advance_project(project_id: str, body: AdvanceRequest, session: SessionDep, principal: PrincipalDep,
                          clock: ClockDep) -> ProjectPublic:
    """Only to the next stage (409 `project.invalid_stage`); 409 `project.gate_unmet` lists every unmet gate;
    a concurrent move gives 409 `project.concurrent_change`."""
    return await service.advance(session, principal=principal, project_id=project_id, body=body, now=clock.now())


@router.get("/jurisdictions/{jurisdiction_id}/ranking", response_model=Ranking, operation_id="project_ranking")
async def ranking(jurisdiction_id: str, session: SessionDep, principal: PrincipalDep, clock: ClockDep) -> Ranking:
    """Eligible communities by willingness, participation and residents' contribution share (admin)."""
    return await service.ranking(session, principal=principal, jurisdiction_id=jurisdiction_id, now=clock.now())
