"""The shape every domain uses to report one gate of the project lifecycle."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class GateState(BaseModel):
    """One condition a stage move needs: whether it holds now, why, and the figures behind it."""

    name: str  # stable id, e.g. "survey_passed", "motions_passed", "publicity_passed", "no_open_critical_reports"
    met: bool
    detail: str  # Chinese, for the committee
    figures: dict[str, Any] = Field(default_factory=dict)
