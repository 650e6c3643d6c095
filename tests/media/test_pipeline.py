"""The photo pipeline on its own: the same bytes as the plain full-copy pipeline, bounded decoding, staging."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import anyio
import pytest
from fastapi import UploadFile
from PIL import Image, ImageOps

from app.core.config import Settings
from app.core.errors import Invalid, TooLarge
from app.media import images
from app.media.images import DECODE_SLOTS, THUMB_SIDE, Staging
from app.media.storage import LocalStorage
from tests.media.hooks import scratch_files, stored_blobs
from tests.media.imaging import noisy_jpeg, phone_jpeg


def _plain(data: bytes) -> tuple[bytes, bytes, tuple[int, int]]:
    """The straightforward pipeline (an upright copy, a metadata-free copy to encode, a copy to thumbnail):
    what the app must produce byte for byte with one bitmap."""
    img = Image.open(io.BytesIO(data))
    fmt = images.SERVED[img.format or ""][0]
    served = images._for_format(ImageOps.exif_transpose(img), fmt)

    def encode(im: Image.Image) -> bytes:
        clean = im.copy()
        clean.info = {}
        buf = io.BytesIO()
        if fmt == "JPEG":
            clean.save(buf, "JPEG", quality=images.JPEG_QUALITY, optimize=True)
        elif fmt == "PNG":
            clean.save(buf, "PNG", optimize=False)
        else:
            clean.save(buf, "WEBP", quality=images.JPEG_QUALITY)
        return buf.getvalue()

    thumb = served.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return encode(served), encode(thumb), served.size


def _saved(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _cases() -> dict[str, bytes]:
    noise = Image.open(io.BytesIO(noisy_jpeg(500, 377)))
    noise.load()
    cases = {f"jpeg orientation {o}": phone_jpeg(700, 420, orientation=o) for o in range(1, 9)}
    cases |= {"jpeg smaller than a thumbnail": phone_jpeg(64, 48), "jpeg 321x100": noisy_jpeg(321, 100),
              "cmyk jpeg": _saved(noise.convert("CMYK"), "JPEG"),
              "mpo": _saved(noise, "MPO", save_all=True, append_images=[noise.rotate(90)])}
    for mode in ("RGB", "RGBA", "L", "LA", "1", "I;16"):
        cases[f"png {mode}"] = _saved(noise.convert(mode), "PNG")
    cases["png P with transparency"] = _saved(noise.quantize(64), "PNG", transparency=3)
    cases["webp RGBA"] = _saved(noise.convert("RGBA"), "WEBP")
    cases["webp RGB"] = _saved(noise, "WEBP")
    return cases


@pytest.mark.parametrize("name", list(_cases()))
def test_same_bytes_as_the_plain_pipeline(name: str, tmp_path: Path) -> None:
    data = _cases()[name]
    path = tmp_path / "upload"
    path.write_bytes(data)
    got = images._process(path, 40_000_000)
    served, thumb, size = _plain(data)
    assert (got.width, got.height) == size
    assert got.served == served
    assert got.thumb == thumb
    assert max(Image.open(io.BytesIO(got.thumb)).size) == min(THUMB_SIDE, max(size))


def test_decode_slots_are_cpus_at_most_four() -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    assert DECODE_SLOTS == max(1, min(4, cpus))


async def test_at_most_decode_slots_images_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = images._process
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def process(path: Path, max_pixels: int):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.05)
            return original(path, max_pixels)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(images, "_process", process)
    settings = Settings(media_dir=tmp_path / "m")
    storage = LocalStorage(settings.media_dir)
    uploads = DECODE_SLOTS * 3
    async with Staging(storage, settings) as staging, anyio.create_task_group() as tg:
        for i in range(uploads):
            upload = UploadFile(io.BytesIO(phone_jpeg(color=(i * 10, 0, 0))), filename="x.jpg")
            tg.start_soon(staging.image, upload)
    assert state["peak"] == DECODE_SLOTS


async def test_staged_files_reach_storage_only_when_installed(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "m")
    storage = LocalStorage(settings.media_dir)
    big = noisy_jpeg(900, 500)  # a thumbnail of its own
    with pytest.raises(RuntimeError):
        async with Staging(storage, settings) as staging:
            stored = await staging.image(UploadFile(io.BytesIO(big), filename="a.jpg"))
            assert stored.sha256 != stored.thumb_sha256
            assert len(scratch_files(settings.media_dir)) == 2 and stored_blobs(settings.media_dir) == set()
            raise RuntimeError("the database write failed")
    assert scratch_files(settings.media_dir) == [] and stored_blobs(settings.media_dir) == set()

    async with Staging(storage, settings) as staging:
        stored = await staging.image(UploadFile(io.BytesIO(big), filename="a.jpg"))
        again = await staging.image(UploadFile(io.BytesIO(big), filename="b.jpg"))  # same bytes: one blob
        small = await staging.image(UploadFile(io.BytesIO(phone_jpeg()), filename="c.jpg"))
        assert small.sha256 == small.thumb_sha256  # smaller than a thumbnail: one file
        await staging.install()
        await staging.install()
    assert again == stored
    assert {p.name for p in stored_blobs(settings.media_dir)} == {stored.sha256, stored.thumb_sha256, small.sha256}
    assert scratch_files(settings.media_dir) == []
    served = Image.open(io.BytesIO(await storage.open_bytes(stored.sha256)))
    assert served.size == (900, 500) and stored.size_bytes == len(await storage.open_bytes(stored.sha256))


async def test_refused_upload_leaves_nothing(tmp_path: Path) -> None:
    settings = Settings(media_dir=tmp_path / "m")
    storage = LocalStorage(settings.media_dir)
    jpeg = noisy_jpeg()
    async with Staging(storage, settings) as staging:
        await staging.image(UploadFile(io.BytesIO(phone_jpeg()), filename="ok.jpg"))
        with pytest.raises(Invalid) as e:
            await staging.image(UploadFile(io.BytesIO(jpeg[: len(jpeg) // 2]), filename="cut.jpg"))
        assert e.value.code == "media.corrupt"
        assert len(scratch_files(settings.media_dir)) == 1  # the good photo, staged; the bad one's spool gone
    assert scratch_files(settings.media_dir) == [] and stored_blobs(settings.media_dir) == set()


async def test_a_photo_is_staged_in_one_hand_off_without_a_copy_of_the_upload(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking and staging a photo is one hand-off to a worker thread, reading the upload where the form parser
    keeps it: no copy of it is written to the scratch directory first, and the event loop's thread makes no
    system call for it (the scratch directory is made in the worker). Installing it is one more."""
    settings = Settings(media_dir=tmp_path / "m")
    storage = LocalStorage(settings.media_dir)
    hand_offs: list[str] = []
    written: list[str] = []
    run_sync = anyio.to_thread.run_sync
    mkstemp = images.tempfile.mkstemp

    async def counted(func, *args, **kw):
        hand_offs.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kw)

    def named(*args, **kw):
        fd, name = mkstemp(*args, **kw)
        written.append(Path(name).name.split("-")[0])
        return fd, name

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    monkeypatch.setattr(images.tempfile, "mkstemp", named)
    loop_thread = threading.get_ident()
    made_in: list[int] = []
    scratch_dir = images.scratch_dir

    def scratch(*args, **kw):
        made_in.append(threading.get_ident())
        return scratch_dir(*args, **kw)

    monkeypatch.setattr(images, "scratch_dir", scratch)
    async with Staging(storage, settings) as staging:
        assert made_in == []
        stored = await staging.image(UploadFile(io.BytesIO(phone_jpeg()), filename="slip.jpg"))
        assert hand_offs == ["_stage_upload_sync"] and written == ["staged"]
        assert made_in and loop_thread not in made_in
        await staging.install()
    assert len(hand_offs) == 2 and scratch_files(settings.media_dir) == []
    assert {p.name for p in stored_blobs(settings.media_dir)} == {stored.sha256}

    hand_offs.clear()
    with pytest.raises(TooLarge) as big:
        async with Staging(storage, settings.model_copy(update={"photo_max_bytes": 100})) as staging:
            await staging.image(UploadFile(io.BytesIO(phone_jpeg()), filename="big.jpg"))
    assert big.value.code == "media.too_large" and hand_offs == ["_stage_upload_sync"]
    with pytest.raises(Invalid) as e:
        async with Staging(storage, settings) as staging:
            await staging.image(UploadFile(io.BytesIO(b""), filename="empty.jpg"))
    assert e.value.code == "media.empty"
