"""Request and response shapes of projects, their stage moves and the street office's ranking."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.projects.gates import GateState
from app.projects.models import Stage


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_stage: Stage
    reason: str = Field(min_length=1, max_length=500)


class StageMovePublic(BaseModel):
    from_stage: str
    to_stage: str
    reason: str
    actor_id: str | None
    at: datetime


class StageGates(BaseModel):
    """The gates one stage move needs (``from_stage`` → ``to_stage``) and whether each holds now."""

    from_stage: str
    to_stage: str
    gates: list[GateState]
    all_met: bool


class ProjectSummary(BaseModel):
    id: str
    community_id: str
    jurisdiction_id: str
    title: str
    stage: str
    version: int
    created_at: datetime


class ProjectPublic(ProjectSummary):
    description: str | None
    created_by: str | None
    next_stage: str | None
    next_gates: list[GateState] = Field(description="gates of the move to the next stage (empty: none needed)")
    stage_gates: list[StageGates] = Field(description="every gated move of the lifecycle with its gates' state")
    history: list[StageMovePublic]


class Figure(BaseModel):
    """One ranking figure: numerator / denominator, the exact share as a fraction string, a display percent."""

    numerator: int
    denominator: int
    share: str | None = Field(description='exact fraction, e.g. "7/12"; null when the denominator is 0')
    percent: str | None = Field(description='display only, e.g. "58.33"')


class RankedCommunity(BaseModel):
    rank: int
    community_id: str
    community_name: str
    project_id: str | None
    project_title: str | None
    project_stage: str | None
    has_data: bool
    willingness: Figure | None
    participation: Figure | None
    contribution: Figure | None


class ExcludedCommunity(BaseModel):
    community_id: str
    community_name: str
    reason: str


class Ranking(BaseModel):
    jurisdiction_id: str
    ordered_by: list[str]
    items: list[RankedCommunity]
    excluded: list[ExcludedCommunity]
