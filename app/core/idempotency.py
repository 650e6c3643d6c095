"""``Idempotency-Key``: a replayed POST/PUT returns the first result, never a second record.

The key is claimed inside the request's own transaction, so a request that fails leaves no claim and a
retry runs again; one that succeeded is stored with its response. A key reused with a different body is
refused with 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.db import new_id, upsert_insert
from app.core.errors import AppError, Conflict
from app.core.models import IdempotencyRecord

MAX_KEY = 200


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, bytes):
            h.update(p)
        else:
            h.update(json.dumps(jsonable_encoder(p), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\x00")
    return h.hexdigest()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY:
        raise AppError("idempotency.key_invalid", "Idempotency-Key 无效（1–200 个字符）",
                       "Idempotency-Key must be 1-200 characters", status=400)
    return key


async def run_idempotent(
    session: AsyncSession,
    request: Request,
    *,
    user_id: str,
    now: datetime,
    body_fingerprint: str,
    produce: Callable[[], Awaitable[Any]],
    status_code: int = 200,
) -> JSONResponse:
    """Run ``produce`` once per (user, Idempotency-Key); replays get the stored response."""
    key = idempotency_key(request)
    if key is None:
        result = await produce()
        # a model straight to JSON-native values (what jsonable_encoder does with one, in one pass)
        content = (result.model_dump(mode="json", by_alias=True) if isinstance(result, BaseModel)
                   else jsonable_encoder(result))
        return JSONResponse(content, status_code=status_code)
    req_hash = fingerprint(request.method, request.url.path, body_fingerprint)

    async def existing() -> IdempotencyRecord | None:
        q = select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
        return (await session.exec(q.execution_options(populate_existing=True))).first()

    def replay(rec: IdempotencyRecord) -> JSONResponse:
        if rec.request_hash != req_hash:
            raise Conflict("idempotency.key_reused", "该 Idempotency-Key 已用于不同的请求",
                           "This Idempotency-Key was used with a different request")
        return JSONResponse(json.loads(rec.response or "null"), status_code=rec.status_code or 200,
                            headers={"Idempotent-Replayed": "true"})

    rec = await existing()
    if rec is not None:
        return replay(rec)
    ins = upsert_insert(session, IdempotencyRecord)
    rec_id = new_id()
    stmt = ins.values(
        id=rec_id, user_id=user_id, key=key, method=request.method, path=request.url.path[:500],
        request_hash=req_hash, created_at=now,
    ).on_conflict_do_nothing()
    res = await session.exec(stmt)
    if res.rowcount != 1:  # a concurrent request with the same key committed first
        rec = await existing()
        if rec is None or rec.status_code is None:
            raise Conflict("idempotency.in_progress", "相同请求正在处理，请稍后重试",
                           "The same request is in progress, retry shortly")
        return replay(rec)
    result = jsonable_encoder(await produce())
    rec = await existing()
    assert rec is not None
    rec.status_code = status_code
    rec.response = json.dumps(result, ensure_ascii=False)
    session.add(rec)
    await session.flush()
    return JSONResponse(result, status_code=status_code)
