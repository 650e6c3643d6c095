"""Content-addressed file storage behind an interface (local disk now; an object store can replace it).

A stored blob is named by the sha256 of its bytes and lives under ``<root>/<aa>/<bb>/<sha256>``. Client
filenames are never used for anything on disk. Writes go to a temp file in the target directory (or, for
files processed beforehand, the scratch directory ``<root>/tmp``) and are renamed into place with
:func:`os.replace`, so a reader never sees a half-written blob, and storing the same bytes twice is a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol, runtime_checkable

import anyio.to_thread
from fastapi import Depends, Request

CHUNK = 1024 * 1024
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def is_sha256(value: str) -> bool:
    return bool(_SHA_RE.fullmatch(value or ""))


def sha256_of_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@runtime_checkable
class Storage(Protocol):
    """Where blobs live. Every method takes or returns the sha256 hex of the content."""

    async def put_file(self, path: Path) -> str:
        """Store a copy of the file at ``path`` (left in place); return its sha256. Idempotent."""
        ...

    async def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its sha256. Idempotent."""
        ...

    async def adopt_file(self, path: Path, sha256: str) -> None:
        """Take over ``path``, a complete and fsynced file in the scratch directory (:func:`scratch_dir`)
        whose content hashes to ``sha256``: it is moved into storage (or dropped when the blob is already
        there). Idempotent; ``path`` is gone afterwards."""
        ...

    async def open_bytes(self, sha256: str) -> bytes:
        """The blob's bytes; ``FileNotFoundError`` when absent."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """A path on local disk to serve the blob from, or None (object stores, absent blobs)."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None:
        """Remove a blob (absent: no-op). Only for blobs known to be unreferenced."""
        ...


class LocalStorage:
    """Blobs on the local filesystem under ``root`` (created on demand)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def tmp_dir(self) -> Path:
        """A scratch directory on the same filesystem (so renames are atomic)."""
        d = self.root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _write(self, sha256: str, write: Callable[[BinaryIO], object]) -> None:
        """Write a blob through a temporary file in its directory, fsynced, then renamed into place: a
        reader never sees a partial blob. An existing blob is kept (same digest, same bytes)."""
        target = self._path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _put_file_sync(self, path: Path) -> str:
        sha = sha256_of_file(path)

        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as inp:
                shutil.copyfileobj(inp, out, CHUNK)

        self._write(sha, copy)
        return sha

    def _put_bytes_sync(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        self._write(sha, lambda out: out.write(data))
        return sha

    def _adopt_sync(self, path: Path, sha256: str) -> None:
        target = self._path(sha256)
        if target.exists():
            path.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same filesystem (tmp_dir): atomic, no copy

    async def put_file(self, path: Path) -> str:
        return await anyio.to_thread.run_sync(self._put_file_sync, Path(path))

    async def adopt_file(self, path: Path, sha256: str) -> None:
        await anyio.to_thread.run_sync(self._adopt_sync, Path(path), sha256)

    async def put_bytes(self, data: bytes) -> str:
        return await anyio.to_thread.run_sync(self._put_bytes_sync, data)

    async def open_bytes(self, sha256: str) -> bytes:
        return await anyio.to_thread.run_sync(self._path(sha256).read_bytes)

    def local_path(self, sha256: str) -> Path | None:
        try:
            p = self._path(sha256)
        except ValueError:
            return None
        return p if p.is_file() else None

    async def exists(self, sha256: str) -> bool:
        try:
            p = self._path(sha256)
        except ValueError:
            return False
        return await anyio.to_thread.run_sync(p.is_file)

    async def delete(self, sha256: str) -> None:
        p = self._path(sha256)
        await anyio.to_thread.run_sync(lambda: p.unlink(missing_ok=True))


def scratch_dir(storage: Storage, fallback_root: Path) -> Path:
    """Where uploads are spooled before they are checked: the storage's own tmp dir when it has one."""
    tmp = getattr(storage, "tmp_dir", None)
    if callable(tmp):
        return tmp()
    d = Path(fallback_root) / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


def get_storage(request: Request) -> Storage:
    """The app's storage, created on first use from ``settings.media_dir`` (tests may preset another)."""
    storage = getattr(request.app.state, "storage", None)
    if storage is None:
        storage = LocalStorage(request.app.state.settings.media_dir)
        request.app.state.storage = storage
    return storage


StorageDep = Annotated[Storage, Depends(get_storage)]
