"""Blobs in an S3 object store (``MEDIA_STORAGE=s3``), against a real SeaweedFS (tests/s3server.py), and the same
HTTP behaviour on both storages: uploads checked and stored content-addressed, served only after the
permission check with the safe headers, nothing stored by a refused upload; ``MEDIA_REDIRECT=presigned``."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import anyio
import httpx
import pytest

from app.media.s3 import S3Storage
from app.media.storage import LocalStorage, Storage, blob_key, make_storage
from tests.media.imaging import phone_jpeg, png_bytes
from tests.media.test_visibility import _outside_staff
from tests.publicity.test_files import PDF, notice
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY
from tests.supervision.helpers import counts, file_report, photo_files, project_with_people

CSP = "default-src 'none'; sandbox"


def s3_storage(seaweedfs, bucket: str, scratch: Path, *, presign_seconds: int | None = None,
               secret: str = SECRET_KEY) -> S3Storage:
    return S3Storage(bucket=bucket, endpoint_url=seaweedfs.endpoint, access_key_id=ACCESS_KEY,
                     secret_access_key=secret, region=REGION, path_style=True, scratch_root=scratch,
                     presign_seconds=presign_seconds)


# ---- the storage on its own ------------------------------------------------------------------------

async def test_s3_storage_roundtrip(seaweedfs, tmp_path) -> None:
    bucket = seaweedfs.create_bucket()
    st = s3_storage(seaweedfs, bucket, tmp_path)
    assert isinstance(st, Storage)
    await st.check()
    src = tmp_path / "x.bin"
    src.write_bytes(b"hello")
    sha = await st.put_file(src)
    assert sha == hashlib.sha256(b"hello").hexdigest() and src.exists()  # put_file copies
    assert seaweedfs.keys(bucket) == {f"{sha[:2]}/{sha[2:4]}/{sha}"}
    assert await st.put_bytes(b"hello") == sha and await st.exists(sha)  # idempotent
    assert await st.open_bytes(sha) == b"hello"
    blob = await st.stream(sha)
    assert blob.size == 5 and b"".join([c async for c in blob.chunks]) == b"hello"
    assert st.local_path(sha) is None and await st.presigned_url(sha, mime="image/jpeg", disposition="inline") is None
    # adopt: a scratch file is sent and removed; the same bytes again are not sent twice
    staged = st.tmp_dir() / "staged-1"
    staged.write_bytes(b"other bytes")
    other = hashlib.sha256(b"other bytes").hexdigest()
    await st.adopt_file(staged, other)
    assert not staged.exists() and await st.open_bytes(other) == b"other bytes"
    assert len(seaweedfs.keys(bucket)) == 2
    # absent blobs and bad names
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert not await st.exists(missing) and not await st.exists("../x")
    with pytest.raises(FileNotFoundError):
        await st.open_bytes(missing)
    with pytest.raises(FileNotFoundError):
        await st.stream(missing)
    with pytest.raises(ValueError):
        await st.open_bytes("../../etc/passwd")
    await st.delete(other)
    assert not await st.exists(other) and seaweedfs.keys(bucket) == {blob_key(sha)}
    await st.close()


async def test_s3_readiness_check_fails_on_a_wrong_key_or_bucket(seaweedfs, tmp_path) -> None:
    bucket = seaweedfs.create_bucket()
    await s3_storage(seaweedfs, bucket, tmp_path).check()
    with pytest.raises(Exception, match="403|Forbidden|SignatureDoesNotMatch|AccessDenied"):
        await s3_storage(seaweedfs, bucket, tmp_path, secret="not-the-secret").check()
    with pytest.raises(Exception, match="404|Not ?Found|NoSuchBucket"):
        await s3_storage(seaweedfs, "no-such-bucket-here", tmp_path).check()


def _random_file(path: Path, mb: int) -> int:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))
    return mb * 1024 * 1024


async def test_large_files_go_in_parts_and_are_never_whole_in_memory(seaweedfs, tmp_path) -> None:
    """A 40 MB file is sent in parts from disk and read back in chunks: the peak of Python allocations stays
    well under the file's size both ways."""
    st = s3_storage(seaweedfs, seaweedfs.create_bucket(), tmp_path)
    big = tmp_path / "big.pdf"
    size = _random_file(big, 40)
    tracemalloc.start()
    try:
        sha = await st.put_file(big)
        _, peak_up = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        blob = await st.stream(sha)
        h = hashlib.sha256()
        async for chunk in blob.chunks:
            h.update(chunk)
        _, peak_down = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size and h.hexdigest() == sha
    assert peak_up < size // 2, peak_up  # parts of 8 MB, two at a time
    assert peak_down < 4 * 1024 * 1024, peak_down
    etag = st.client.head_object(Bucket=st.bucket, Key=blob_key(sha))["ETag"]
    assert "-" in etag  # a multipart upload's ETag names its part count


async def test_presigned_urls_expire(seaweedfs, tmp_path) -> None:
    st = s3_storage(seaweedfs, seaweedfs.create_bucket(), tmp_path, presign_seconds=3)
    sha = await st.put_bytes(png_bytes())
    url = await st.presigned_url(sha, mime="image/png", disposition='inline; filename="x.png"')
    assert url is not None
    async with httpx.AsyncClient() as http:
        ok = await http.get(url)
        assert ok.status_code == 200 and ok.content == png_bytes()
        assert ok.headers["content-type"] == "image/png"
        assert ok.headers["content-disposition"] == 'inline; filename="x.png"'
        assert (await http.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))).status_code == 403
        await anyio.sleep(4.2)  # the S3 server's clock decides
        assert (await http.get(url)).status_code == 403


def test_settings_choose_the_storage(tmp_path, monkeypatch) -> None:
    from pydantic import ValidationError

    from app.core.config import Settings

    for name in ("MEDIA_STORAGE", "MEDIA_REDIRECT", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(make_storage(Settings(media_dir=tmp_path)), LocalStorage)
    with pytest.raises(ValidationError, match="S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY"):
        Settings(media_storage="s3")
    with pytest.raises(ValidationError, match="MEDIA_REDIRECT=presigned needs MEDIA_STORAGE=s3"):
        Settings(media_redirect="presigned")
    s = Settings(media_dir=tmp_path, media_storage="s3", s3_bucket="b", s3_access_key_id="k",
                 s3_secret_access_key="s", s3_endpoint_url="http://127.0.0.1:9", media_redirect="presigned")
    st = make_storage(s)
    assert isinstance(st, S3Storage) and st.bucket == "b" and st.presign_seconds == 300
    assert st.tmp_dir() == tmp_path / "tmp"


# ---- through HTTP, on both storages ------------------------------------------------------------------

class Backend:
    """The test app's storage: the local disk, or a fresh bucket of the session's SeaweedFS."""

    def __init__(self, kind: str, settings, seaweedfs=None, bucket: str | None = None) -> None:
        self.kind, self.settings, self.seaweedfs, self.bucket = kind, settings, seaweedfs, bucket

    def blobs(self) -> set[str]:
        """The names (sha256) of the stored blobs."""
        if self.seaweedfs is not None:
            return {k.rsplit("/", 1)[1] for k in self.seaweedfs.keys(self.bucket)}
        root = Path(self.settings.media_dir)
        return {p.name for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "tmp"}

    def local_files(self) -> list[Path]:
        return [f for f in Path(self.settings.media_dir).rglob("*") if f.is_file()]

    def scratch(self) -> list[Path]:
        return [f for f in (Path(self.settings.media_dir) / "tmp").rglob("*") if f.is_file()]


@pytest.fixture(params=["local", "s3"])
def backend(request, app, settings) -> Backend:
    if request.param == "local":
        return Backend("local", settings)
    seaweedfs = request.getfixturevalue("seaweedfs")  # started only when an S3 case runs
    bucket = seaweedfs.create_bucket()
    settings.media_storage, settings.s3_endpoint_url, settings.s3_bucket = "s3", seaweedfs.endpoint, bucket
    settings.s3_access_key_id, settings.s3_secret_access_key, settings.s3_region = ACCESS_KEY, SECRET_KEY, REGION
    app.state.storage = make_storage(settings)  # what the app would make from these settings
    assert isinstance(app.state.storage, S3Storage)
    return Backend("s3", settings, seaweedfs, bucket)


async def test_report_photos_stored_and_served_after_the_check(client, world, app, settings, backend) -> None:
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg(), png_bytes())
    assert r.status_code == 201, r.text
    photos = r.json()["photos"]
    served = []
    for photo, mime in zip(photos, ("image/jpeg", "image/png"), strict=True):
        got = await client.get(photo["url"], headers=p.supervisor)
        assert got.status_code == 200 and got.headers["content-type"] == mime
        assert got.headers["content-security-policy"] == CSP and got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["cache-control"] == "private"
        assert int(got.headers["content-length"]) == len(got.content) == photo["size_bytes"]
        assert b"PhoneMaker" not in got.content  # the cleaned copy
        served.append(hashlib.sha256(got.content).hexdigest())
        thumb = await client.get(photo["thumbnail_url"], headers=p.supervisor)
        assert thumb.status_code == 200 and thumb.headers["content-type"] == mime
        served.append(hashlib.sha256(thumb.content).hexdigest())
    assert set(served) == backend.blobs()  # exactly what was stored, named by its sha256
    if backend.kind == "s3":
        assert backend.local_files() == []  # nothing on this instance's disk
    # the permission check comes first: no sign-in 401, staff of another community 404
    assert (await client.get(photos[0]["url"])).status_code == 401
    r = await client.get(photos[0]["url"], headers=await _outside_staff(client, world))
    assert r.status_code == 404 and r.json()["code"] == "photo.not_found"


async def test_refused_upload_stores_nothing(client, world, app, backend) -> None:
    p = await project_with_people(client, world)
    before = await counts(app), backend.blobs()
    r = await client.post(f"/api/v1/projects/{p.id}/reports", headers=p.supervisor,
                          data={"catalog_item": "x", "severity": "minor", "description": "d"},
                          files=photo_files(phone_jpeg()) + [("photos", ("b.jpg", b"\xff\xd8\xff broken", "image/jpeg"))])
    assert r.status_code == 422 and r.json()["photo_index"] == 1
    assert (await counts(app), backend.blobs()) == before
    assert backend.scratch() == []


async def test_pdf_attachment_streamed_as_a_download(client, world, backend) -> None:
    n = await notice(client, world)
    r = await client.post(f"/api/v1/notices/{n['id']}/attachments", headers=world.staff,
                          files=[("files", ("改造方案.pdf", PDF, "application/pdf"))])
    assert r.status_code == 201, r.text
    url = r.json()["attachments"][0]["url"]
    got = await client.get(url, headers=world.residents[0].headers)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-security-policy"] == CSP
    assert backend.blobs() == {hashlib.sha256(PDF).hexdigest()}
    r = await client.get(url, headers=await _outside_staff(client, world))
    assert r.status_code == 404


async def test_presigned_redirect_after_the_check(client, world, app, settings, seaweedfs) -> None:
    bucket = seaweedfs.create_bucket()
    app.state.storage = s3_storage(seaweedfs, bucket, settings.media_dir, presign_seconds=60)
    p = await project_with_people(client, world)
    r = await file_report(client, p.id, p.supervisor, phone_jpeg())
    assert r.status_code == 201, r.text
    photo = r.json()["photos"][0]
    got = await client.get(photo["url"], headers=p.supervisor)
    assert got.status_code == 307 and got.headers["cache-control"] == "no-store"
    location = got.headers["location"]
    assert location.startswith(f"{seaweedfs.endpoint}/{bucket}/") and "X-Amz-Signature=" in location
    async with httpx.AsyncClient() as http:
        direct = await http.get(location)
    assert direct.status_code == 200 and direct.headers["content-type"] == "image/jpeg"
    assert direct.headers["content-disposition"] == f'inline; filename="{photo["id"]}.jpg"'
    assert blob_key(hashlib.sha256(direct.content).hexdigest()) in seaweedfs.keys(bucket)
    # no URL for those who may not see it
    r = await client.get(photo["url"], headers=await _outside_staff(client, world))
    assert r.status_code == 404 and "location" not in r.headers
