"""Content-addressed file storage behind an interface: the local disk, or an S3-API object store.

A stored blob is named by the sha256 of its bytes: ``<aa>/<bb>/<sha256>`` under the storage's root (a
directory, or a bucket). Client filenames are never used for anything in storage.

* :class:`LocalStorage` (``MEDIA_STORAGE=local``, the default; one instance): blobs under ``MEDIA_DIR``.
  Writes go to a temp file in the target directory (or, for files processed beforehand, the scratch
  directory ``<root>/tmp``) and are renamed into place with :func:`os.replace`, so a reader never sees a
  half-written blob, and storing the same bytes twice is a no-op.
* :class:`app.media.s3.S3Storage` (``MEDIA_STORAGE=s3``; several instances share it): blobs are objects of
  ``S3_BUCKET``; an S3 PUT becomes visible whole or not at all, and a blob already there is not sent again.
  Uploads are still spooled and checked in a local scratch directory (``MEDIA_DIR/tmp``) first.

Serving (:mod:`app.media.serving`) asks for :meth:`Storage.local_path` (sent by the server as a file), else
:meth:`Storage.presigned_url` (a redirect, only when the store is set up for it), else :meth:`Storage.stream`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO, Protocol, runtime_checkable

import anyio.to_thread
from fastapi import Depends, Request

from app.core.config import Settings

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


def blob_key(sha256: str) -> str:
    """``aa/bb/<sha256>``: the blob's name under the storage's root; ``ValueError`` for anything but a digest."""
    if not is_sha256(sha256):
        raise ValueError("not a sha256 hex digest")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


@dataclass(frozen=True)
class BlobStream:
    """A blob being read: its size and its bytes in chunks (the iterator closes what it reads from)."""

    size: int
    chunks: AsyncIterator[bytes]


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

    async def stream(self, sha256: str) -> BlobStream:
        """The blob in chunks, never whole in memory; ``FileNotFoundError`` (raised here, before any chunk)
        when absent."""
        ...

    async def presigned_url(self, sha256: str, *, mime: str, disposition: str) -> str | None:
        """A short-lived URL the client may fetch the blob from directly (served as ``mime`` with that
        ``Content-Disposition``), or None: the app streams the blob itself (local disk; an object store
        unless ``MEDIA_REDIRECT=presigned``)."""
        ...

    async def exists(self, sha256: str) -> bool: ...

    async def delete(self, sha256: str) -> None:
        """Remove a blob (absent: no-op). Only for blobs known to be unreferenced."""
        ...

    async def check(self) -> None:
        """Readiness: raise when the storage cannot be reached or written."""
        ...

    async def close(self) -> None: ...


class LocalStorage:
    """Blobs on the local filesystem under ``root`` (created on demand)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

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

    async def stream(self, sha256: str) -> BlobStream:
        f = await anyio.to_thread.run_sync(open, self._path(sha256), "rb")
        size = await anyio.to_thread.run_sync(lambda: os.fstat(f.fileno()).st_size)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await anyio.to_thread.run_sync(f.read, CHUNK):
                    yield chunk
            finally:
                f.close()

        return BlobStream(size, chunks())

    async def presigned_url(self, sha256: str, *, mime: str, disposition: str) -> str | None:
        return None  # files on the app's own disk are served by the app

    def _check_sync(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise PermissionError(f"{self.root} is not writable")

    async def check(self) -> None:
        await anyio.to_thread.run_sync(self._check_sync)

    async def close(self) -> None:
        return None


def scratch_dir(storage: Storage, fallback_root: Path) -> Path:
    """Where uploads are spooled before they are checked: the storage's own tmp dir when it has one."""
    tmp = getattr(storage, "tmp_dir", None)
    if callable(tmp):
        return tmp()
    d = Path(fallback_root) / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_storage(settings: Settings) -> Storage:
    """``MEDIA_STORAGE``: ``local`` (``MEDIA_DIR``) or ``s3`` (the ``S3_*`` settings; scratch in ``MEDIA_DIR``)."""
    if settings.media_storage == "s3":
        from app.media.s3 import S3Storage  # botocore is imported only by deployments that use it

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.media_dir)


def app_storage(state: object) -> Storage:
    """The storage kept on the app's ``state``, created on first use (tests may preset another)."""
    storage: Storage | None = getattr(state, "storage", None)
    if storage is None:
        storage = make_storage(state.settings)  # type: ignore[attr-defined]  # app.state carries the settings
        state.storage = storage  # type: ignore[attr-defined]
    return storage


async def get_storage(request: Request) -> Storage:
    """The app's storage (:func:`app_storage`)."""
    return app_storage(request.app.state)


StorageDep = Annotated[Storage, Depends(get_storage)]
