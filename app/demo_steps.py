"""Demo steps beyond the register (survey, motion, notice), each through the HTTP API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.demo import DemoContext


async def run_steps(ctx: DemoContext) -> None:
    return None
