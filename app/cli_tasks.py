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


async def create_admin(username: str, password: str, name: str, jurisdiction_id: str | None = None) -> str:
    """Create (or reset) an admin: global, or of one jurisdiction (its street office; audited)."""
    from app.core import audit
    from app.register.models import Jurisdiction

    problems = password_problems(password)
    if problems:
        raise ValueError("password: " + ", ".join(problems))
    db = Database(get_settings())
    now = SystemClock().now()
    try:
        async with db.write_session() as session:
            if jurisdiction_id is not None and await session.get(Jurisdiction, jurisdiction_id) is None:
                raise ValueError(f"jurisdiction {jurisdiction_id!r} not found")
            user = await auth_repo.get_user_by_username(session, username)
            if user is None:
                user = await auth_service.create_user(session, username=username, password=password, name=name,
                                                      now=now)
            else:
                user.password_hash = hash_password(password)
                user.is_active = True
                session.add(user)
            await auth_service.grant(session, user_id=user.id, role=Role.ADMIN, scope_id=jurisdiction_id or "*",
                                     now=now, by=None)
            if jurisdiction_id is not None:
                await audit.append(session, chain="system", action="jurisdiction.admin_granted", entity_type="user",
                                   entity_id=user.id, actor_id=None, at=now,
                                   data={"jurisdiction_id": jurisdiction_id, "via": "cli"})
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
    """Check a motion's or a questionnaire's evidence pack (no database), picked by the manifest's ``format``
    (a motion's when it names no other): (ok, the summary or the first mismatch)."""
    from app.core.evidence import pack_format
    from app.surveys import evidence as survey_evidence
    from app.voting import evidence as motion_evidence

    with open(path, "rb") as f:
        data = f.read()
    verify = survey_evidence.verify_pack if pack_format(data) == survey_evidence.FORMAT else motion_evidence.verify_pack
    verdict = verify(data)
    return verdict.ok, verdict.message


async def run_worker(*, once: bool = False) -> int:
    """``python -m app worker``: the periodic work (motion closing, reminders, outbox; app.turnout.worker) in
    a process of its own, on the app's settings and wiring, until SIGTERM or SIGINT (``once``: one round)."""
    import asyncio
    import logging
    import signal

    from app.main import close_app, create_app
    from app.turnout.worker import OutboxWorker, tick

    settings = get_settings()
    app = create_app(settings)
    log = logging.getLogger("app.worker")
    try:
        if once:
            stats = await tick(app)
            log.info("worker round: %s", stats)
            return 1 if stats.get("errors") else 0
        worker = OutboxWorker(app, interval_s=settings.outbox_interval_s)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        worker.start()
        log.info("worker running every %.1f s on %s", settings.outbox_interval_s, app.state.db.dialect)
        await stop.wait()
        await worker.stop()
        return 0
    finally:
        await close_app(app)
