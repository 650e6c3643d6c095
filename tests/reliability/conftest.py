"""A real server process on a database of its own (SQLite file, or a fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _pg_admin, _pg_base_url, _with_db
from tests.serverproc import ServerProcess

ADMIN_USER = "proc-admin"
ADMIN_PASS = "proc-admin-pass-2026!"


def process_database(tmp: Path) -> tuple[str, str | None]:
    pg = _pg_base_url()
    if pg is None:
        return f"sqlite+aiosqlite:///{tmp / 'server.db'}", None
    name = f"p_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(pg, f'CREATE DATABASE "{name}"'))
    return _with_db(pg, name), name


def drop_database(name: str | None) -> None:
    pg = _pg_base_url()
    if name and pg:
        asyncio.run(_pg_admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _running_server(tmp: Path) -> Iterator[ServerProcess]:
    url, name = process_database(tmp)
    proc = ServerProcess(url, tmp)
    r = proc.cli("create-admin", "--username", ADMIN_USER, "--password", ADMIN_PASS)
    assert r.returncode == 0, r.stderr
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        drop_database(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    yield from _running_server(tmp_path)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _running_server(tmp_path_factory.mktemp("proc"))
