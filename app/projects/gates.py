"""The contracts between projects and the domains that own the facts its lifecycle and ranking need.

Projects sits below surveys, voting, funding, supervision and publicity (docs/ARCHITECTURE.md), so it never
imports them. It declares what it needs — a gate provider per gate name, and the figures the street office's ranking
compares — and the composition root (:mod:`app.wiring`) registers each domain's provider at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlmodel.ext.asyncio.session import AsyncSession


class GateState(BaseModel):
    """One condition a stage move needs: whether it holds now, why, and the figures behind it."""

    name: str  # stable id, e.g. "survey_passed", "motions_passed", "publicity_passed", "funding_complete",
    # "no_open_critical_reports"
    met: bool
    detail: str  # Chinese, for the committee
    figures: dict[str, Any] = Field(default_factory=dict)


class GateProvider(Protocol):
    async def __call__(self, session: AsyncSession, *, project_id: str, now: datetime) -> GateState: ...


@dataclass(frozen=True)
class Ratio:
    """An exact share: ``numerator / denominator`` (integers; the denominator may be 0 when nothing is in scope)."""

    numerator: int
    denominator: int


@dataclass(frozen=True)
class WillingnessFigures:
    """The project's willingness questionnaire: agreeing households and responding households, each over the
    households in its scope (None when the project has no such questionnaire)."""

    willingness: Ratio | None = None
    participation: Ratio | None = None


@dataclass(frozen=True)
class ContributionFigures:
    """The residents' share of the current plan's budget, in fen (None without a plan)."""

    contribution: Ratio | None = None


class WillingnessFiguresProvider(Protocol):
    async def __call__(self, session: AsyncSession, *, project_id: str, now: datetime) -> WillingnessFigures: ...


class ContributionFiguresProvider(Protocol):
    async def __call__(self, session: AsyncSession, *, project_id: str) -> ContributionFigures: ...


class ProjectProviders:
    """What the domains above projects provide to it; filled once by :func:`app.wiring.wire`."""

    def __init__(self) -> None:
        self.gates: dict[str, GateProvider] = {}
        self.willingness: WillingnessFiguresProvider | None = None
        self.contribution: ContributionFiguresProvider | None = None

    def gate(self, name: str) -> GateProvider:
        try:
            return self.gates[name]
        except KeyError:
            raise RuntimeError(f"no provider registered for the project gate {name!r} (see app.wiring)") from None

    def missing(self, needed: set[str]) -> list[str]:
        """Names of needed gates or figures without a provider (the composition root refuses to start)."""
        out = sorted(needed - set(self.gates))
        if self.willingness is None:
            out.append("figures:willingness")
        if self.contribution is None:
            out.append("figures:contribution")
        return out


PROVIDERS = ProjectProviders()
