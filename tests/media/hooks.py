"""Making something happen while an upload's photo is being processed (between a request's checks and its
write), to test that the write step checks again and that no database connection is held meanwhile."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from sqlmodel import select

from app.media import images
from app.media.models import MediaObject


def while_processing(monkeypatch: pytest.MonkeyPatch, action: Callable[[], Awaitable[Any]],
                     timeout: float = 20) -> list[Any]:
    """Run ``action`` (e.g. another HTTP request through the same client) once, from inside the worker thread
    that processes the first photo, on the event loop. Returns a list that receives its result.

    On SQLite every write needs THE writer connection: if the uploading request still held it, ``action``
    could not finish (the ``timeout`` turns that deadlock into a failure)."""
    original = images._process
    results: list[Any] = []
    started: list[bool] = []

    async def bounded() -> Any:
        with anyio.fail_after(timeout):
            return await action()

    def process(path: Path, max_pixels: int) -> Any:
        out = original(path, max_pixels)
        if not started:  # once: photos that ``action`` itself uploads are processed normally
            started.append(True)
            results.append(anyio.from_thread.run(bounded))
        return out

    monkeypatch.setattr(images, "_process", process)
    return results


def stored_blobs(media_dir: Path) -> set[Path]:
    """Every blob in storage (the scratch directory aside)."""
    root = Path(media_dir)
    if not root.exists():
        return set()
    return {p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"}


def scratch_files(media_dir: Path) -> list[Path]:
    tmp = Path(media_dir) / "tmp"
    return [p for p in tmp.rglob("*") if p.is_file()] if tmp.exists() else []


async def orphan_blobs(app: Any, media_dir: Path) -> set[str]:
    """Blobs in storage that no media row refers to (none may be left by a refused upload)."""
    async with app.state.db.read_session() as s:
        rows = (await s.exec(select(MediaObject.sha256, MediaObject.thumb_sha256))).all()
    referenced = {sha for row in rows for sha in row if sha}
    return {p.name for p in stored_blobs(media_dir)} - referenced
