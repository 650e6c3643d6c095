"""Blobs in an S3-API object store (``MEDIA_STORAGE=s3``): Aliyun OSS, Tencent COS, MinIO, SeaweedFS, AWS.

The client is boto3 (botocore), AWS's own SDK, run in worker threads. Why that one: it is the reference
implementation of what every S3-compatible store is tested against (SigV4 signing, presigned URLs, path-style
and virtual-hosted addressing, retries), it is released every week, and its transfer manager uploads a file
from disk in parts without reading it into memory. The async wrappers (aiobotocore) pin botocore to one exact
version and bring a second HTTP stack (aiohttp); a hand-written SigV4 client would be ours to keep correct
against four vendors. Calls are few per request (one HEAD and one PUT per stored blob, one GET per download)
and each blocks a thread only for its own I/O, which ``anyio.to_thread`` bounds.

Plain S3 calls only (HeadObject, PutObject/multipart, GetObject, DeleteObject, HeadBucket), and botocore's
newer default CRC checksums are sent only where an operation requires them: several S3-compatible stores
refuse the ``aws-chunked`` uploads those defaults produce.

* Writes: a blob is checked for with HEAD and uploaded only when absent (content-addressed: same key, same
  bytes). An object appears whole when its PUT (or the multipart upload's completion) succeeds, never half.
* Reads: :meth:`S3Storage.stream` starts the GET (so a missing blob is a ``FileNotFoundError`` before the
  response begins) and hands the body out in 256 KB chunks.
* ``MEDIA_REDIRECT=presigned``: :meth:`S3Storage.presigned_url` signs a GET valid for
  ``MEDIA_PRESIGN_SECONDS`` that makes the store answer with the file's type and disposition.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from app.core.config import Settings
from app.media.storage import BlobStream, blob_key, sha256_of_file

T = TypeVar("T")

READ_CHUNK = 256 * 1024
MULTIPART_THRESHOLD = 16 * 1024 * 1024  # photos and slips are smaller: one PUT; big PDFs go in 8 MB parts
MULTIPART_CHUNK = 8 * 1024 * 1024
CHECK_TIMEOUT_S = 5.0
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return str(response.get("Error", {}).get("Code", "")) in _MISSING


class S3Storage:
    """Blobs as objects ``aa/bb/<sha256>`` of one bucket; uploads are spooled in ``scratch_root/tmp`` first."""

    def __init__(self, *, bucket: str, endpoint_url: str | None, access_key_id: str, secret_access_key: str,
                 region: str, path_style: bool, scratch_root: Path, presign_seconds: int | None = None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.scratch_root = Path(scratch_root)
        self.presign_seconds = presign_seconds  # None: never redirect, the app streams
        config = Config(
            region_name=region, signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "virtual"},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
            connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
        )
        # a boto3 client is safe to share between threads (a session is not: one per storage)
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, config=config)
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                                       max_concurrency=2)

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        return cls(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url or None,
                   access_key_id=settings.s3_access_key_id, secret_access_key=settings.s3_secret_access_key,
                   region=settings.s3_region, path_style=settings.s3_path_style, scratch_root=settings.media_dir,
                   presign_seconds=settings.media_presign_seconds if settings.media_redirect == "presigned" else None)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    def tmp_dir(self) -> Path:
        """The local scratch directory uploads are spooled and checked in before they are sent."""
        d = self.scratch_root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    # ---- blocking calls (worker threads) -----------------------------------------------------------

    def _exists_sync(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def _upload_sync(self, path: Path, sha256: str) -> None:
        key = blob_key(sha256)
        if not self._exists_sync(key):
            self.client.upload_file(str(path), self.bucket, key, Config=self.transfer)

    def _put_file_sync(self, path: Path) -> str:
        sha = sha256_of_file(path)
        self._upload_sync(path, sha)
        return sha

    def _put_bytes_sync(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        if not self._exists_sync(key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return sha

    def _adopt_sync(self, path: Path, sha256: str) -> None:
        self._upload_sync(path, sha256)
        path.unlink(missing_ok=True)

    def _get_sync(self, key: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise

    # ---- the Storage protocol ----------------------------------------------------------------------

    async def put_file(self, path: Path) -> str:
        return await self._run(self._put_file_sync, Path(path))

    async def put_bytes(self, data: bytes) -> str:
        return await self._run(self._put_bytes_sync, data)

    async def adopt_file(self, path: Path, sha256: str) -> None:
        blob_key(sha256)  # refuse a bad digest before anything is sent
        await self._run(self._adopt_sync, Path(path), sha256)

    async def open_bytes(self, sha256: str) -> bytes:
        obj = await self._run(self._get_sync, blob_key(sha256))
        body = obj["Body"]
        try:
            data: bytes = await self._run(body.read)
        finally:
            body.close()
        return data

    def local_path(self, sha256: str) -> Path | None:
        return None

    async def stream(self, sha256: str) -> BlobStream:
        obj = await self._run(self._get_sync, blob_key(sha256))
        body = obj["Body"]

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await self._run(body.read, READ_CHUNK):
                    yield chunk
            finally:
                body.close()

        return BlobStream(int(obj["ContentLength"]), chunks())

    async def presigned_url(self, sha256: str, *, mime: str, disposition: str) -> str | None:
        if self.presign_seconds is None:
            return None
        params = {"Bucket": self.bucket, "Key": blob_key(sha256), "ResponseContentType": mime,
                  "ResponseContentDisposition": disposition, "ResponseCacheControl": "private, no-store"}
        url: str = await self._run(lambda: self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds))
        return url

    async def exists(self, sha256: str) -> bool:
        try:
            key = blob_key(sha256)
        except ValueError:
            return False
        return await self._run(self._exists_sync, key)

    async def delete(self, sha256: str) -> None:
        key = blob_key(sha256)
        await self._run(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    async def check(self) -> None:
        """HEAD the bucket (credentials, bucket and network in one call), within :data:`CHECK_TIMEOUT_S`."""
        with anyio.fail_after(CHECK_TIMEOUT_S):
            await anyio.to_thread.run_sync(lambda: self.client.head_bucket(Bucket=self.bucket),
                                           abandon_on_cancel=True)

    async def close(self) -> None:
        await self._run(self.client.close)

