"""The work behind the command line, on the same services the API uses."""

from __future__ import annotations

import json
from typing import Any

from app.auth import repository as auth_repo
from app.auth import service as auth_service
from app.auth.models import Role
from app.core.audit import ChainReport, verify
from app.core.clock import SystemClock
from app.core.config import get_settings
from app.core.db import Database
from app.core.security import hash_password, password_problems


def openapi_json() -> str:
    from app.main import create_app

    app = create_app()
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


async def create_admin(username: str, password: str, name: str) -> str:
    problems = password_problems(password)
    if problems:
        raise ValueError("password: " + ", ".join(problems))
    db = Database(get_settings())
    now = SystemClock().now()
    try:
        async with db.write_session() as session:
            user = await auth_repo.get_user_by_username(session, username)
            if user is None:
                user = await auth_service.create_user(session, username=username, password=password, name=name,
                                                      now=now)
            else:
                user.password_hash = hash_password(password)
                user.is_active = True
                session.add(user)
            await auth_service.grant(session, user_id=user.id, role=Role.ADMIN, scope_id="*", now=now, by=None)
            await session.commit()
            return user.id
    finally:
        await db.dispose()


async def verify_audit(chain: str | None) -> list[ChainReport]:
    db = Database(get_settings())
    try:
        async with db.read_session() as session:
            return await verify(session, chain)
    finally:
        await db.dispose()


async def build_demo() -> dict[str, Any]:
    from app.demo import build

    db = Database(get_settings())
    try:
        return await build(db, SystemClock())
    finally:
        await db.dispose()


def evidence_verify(path: str) -> tuple[bool, str]:
    """Check a motion's evidence pack (no database): (ok, the summary or the first mismatch)."""
    from app.voting.evidence import verify_pack

    with open(path, "rb") as f:
        verdict = verify_pack(f.read())
    return verdict.ok, verdict.message
