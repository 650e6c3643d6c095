"""Request and response models of the board's staff endpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class BoardTokenIssued(BaseModel):
    url: str = Field(description="the board's address; open it on the lobby screen (shown only in this response)")
    path: str = Field(description='"/board/{token}", for a client that knows the server\'s address')
    token: str = Field(description="random, 256 bits; stored only as a keyed hash")
    created_at: datetime
    replaced: bool = Field(description="an earlier board address of the community stopped working (404)")


class BoardTokenState(BaseModel):
    active: bool
    created_at: datetime | None = Field(description="when the current address was made")
