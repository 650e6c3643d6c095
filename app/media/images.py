"""Uploaded photos and documents: checked by content, cleaned, stored content-addressed.

What is served is always a re-encoded copy WITHOUT metadata (no EXIF, GPS, XMP, ICC, comments) with the
EXIF orientation applied; taken-at and GPS are read from the EXIF first and returned separately for staff.
The original upload is not kept.

Memory: Pillow work runs in worker threads, at most :data:`DECODE_SLOTS` images at once (one per CPU, at
most 4). Each holds ONE decoded bitmap (width × height × 4 bytes; twice that only while it is turned
upright or converted) — no full-size copies kept for the orientation, the metadata or the thumbnail — so
the peak does not grow with the number of uploads in flight; uploads wait where the form parser keeps them
(in memory up to 1 MB each, past that in a temporary file). A photo is checked and staged in one hand-off to a
worker thread, read from there: no copy of the upload is written first.

Staging: a request's checked uploads are written to the scratch directory (:class:`Staging`) and moved
into storage only once the request's database write has succeeded, so a request refused after its photos
were processed leaves no blob behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import anyio
import anyio.to_thread
from fastapi import UploadFile
from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.config import Settings
from app.core.errors import Invalid, TooLarge
from app.media.storage import Storage, scratch_dir

try:  # HEIC/HEIF from iPhones, where pillow-heif installs
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except Exception:  # noqa: BLE001 - optional codec
    HEIF = False

# A header claiming more pixels than Pillow's own bomb limit is refused, never decoded.
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHUNK = 256 * 1024
THUMB_SIDE = 320
JPEG_QUALITY = 85


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Images decoded at once, whatever the number of requests: a 12-MP photo takes ~48 MB decoded, and more
# slots than cores add memory, not speed. Requests beyond that wait in the event loop, not in a thread.
DECODE_SLOTS = max(1, min(4, _cpus()))
_DECODE_LIMITER = anyio.CapacityLimiter(DECODE_SLOTS)
OPEN_FORMATS = ["JPEG", "PNG", "WEBP"] + (["HEIF"] if HEIF else [])
# Pillow format -> (served format, mime)
SERVED = {
    "JPEG": ("JPEG", "image/jpeg"),
    "MPO": ("JPEG", "image/jpeg"),  # multi-picture JPEG from phones: first frame as JPEG
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "HEIF": ("JPEG", "image/jpeg"),
}

# EXIF tags
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011


@dataclass(frozen=True)
class StoredImage:
    sha256: str  # the served, metadata-free version
    thumb_sha256: str
    mime: str
    width: int
    height: int
    size_bytes: int
    taken_at: datetime | None = None
    gps_lat: str | None = None  # decimal degrees, 6 places, e.g. "36.104167"
    gps_lon: str | None = None
    original_sha256: str | None = None  # originals are not kept


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    mime: str
    size_bytes: int
    filename: str | None  # sanitized display name, never used on disk
    thumb_sha256: str | None = None
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    gps_lat: str | None = None
    gps_lon: str | None = None


# ---- errors ----------------------------------------------------------------------------------------

def _too_large(limit: int) -> TooLarge:
    mb = Fraction(limit, 1024 * 1024)
    shown = str(mb.numerator // mb.denominator) if mb.denominator == 1 else f"{float(mb):.1f}"  # display only
    return TooLarge("media.too_large", f"文件过大（上限 {shown} MB）", f"File too large (limit {shown} MB)",
                    limit_bytes=limit)


def _empty() -> Invalid:
    return Invalid("media.empty", "文件为空", "The file is empty")


def _unsupported() -> Invalid:
    return Invalid("media.unsupported_type", "不支持的文件类型，仅支持 JPEG、PNG、WebP、HEIC 图片",
                   "Unsupported file type; JPEG, PNG, WebP or HEIC images only")


def _too_many_pixels(limit: int) -> Invalid:
    return Invalid("media.too_many_pixels", "图片像素过多", "The image has too many pixels", limit_pixels=limit)


def _corrupt() -> Invalid:
    return Invalid("media.corrupt", "图片已损坏或不完整", "The image is damaged or incomplete")


class _MediaFailure(Exception):
    """Raised inside the worker thread; turned into an AppError on the event loop side."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


# ---- streaming -------------------------------------------------------------------------------------

def _spool_sync(src: Any, dest_dir: Path, limit: int) -> tuple[Path, int]:
    """Copy the upload's file object to a fresh temp file in chunks, stopping as soon as it passes ``limit``."""
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix="upload-")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                src.seek(0)
            except (AttributeError, OSError):
                pass
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _MediaFailure("too_large")
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


# ---- EXIF ------------------------------------------------------------------------------------------

def _fraction(v: Any) -> Fraction | None:
    try:
        if isinstance(v, tuple) and len(v) == 2:
            n, d = int(v[0]), int(v[1])
        else:
            n, d = int(v.numerator), int(v.denominator)
    except (AttributeError, TypeError, ValueError):
        return None
    if d == 0:
        return None
    return Fraction(n, d)


def decimal_string(value: Fraction, places: int = 6) -> str:
    """Exact half-up rounding of a fraction to ``places`` decimals, as a string ("-36.104167")."""
    scale = 10 ** places
    neg = value < 0
    a = abs(value) * scale
    q = (a.numerator * 2 + a.denominator) // (2 * a.denominator)
    whole, frac = divmod(q, scale)
    s = f"{whole}.{frac:0{places}d}"
    return "-" + s if neg and q != 0 else s


def _degrees(dms: Any, ref: Any, positive: str, negative: str, bound: int) -> str | None:
    if not isinstance(dms, (tuple, list)) or not 1 <= len(dms) <= 3:
        return None
    parts = [_fraction(p) for p in dms]
    total = Fraction(0)
    for p, div in zip(parts, (1, 60, 3600), strict=False):
        if p is None or p < 0:
            return None
        total += p / Fraction(div)
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "ignore")
    ref = (ref or positive).strip().upper()[:1]
    if ref == negative:
        total = -total
    elif ref != positive:
        return None
    if abs(total) > bound:
        return None
    return decimal_string(total)


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:  # noqa: BLE001 - malformed EXIF is ignored, not fatal
        sub = {}
    raw = sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", "ignore")
    if not isinstance(raw, str):
        return None
    try:
        # EXIF DateTimeOriginal carries no offset: the zone is attached below (OffsetTimeOriginal or Shanghai)
        naive = datetime.strptime(raw.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007
    except ValueError:
        return None
    offset = sub.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "ignore")
    tz: Any = SHANGHAI  # phones in China without an offset tag record local time
    if isinstance(offset, str):
        m = re.fullmatch(r"\s*([+-])(\d{2}):(\d{2})\s*\x00*", offset)
        if m and int(m.group(2)) <= 14 and int(m.group(3)) < 60:
            delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
            tz = timezone(-delta if m.group(1) == "-" else delta)
    return naive.replace(tzinfo=tz)


def _gps(exif: Image.Exif) -> tuple[str | None, str | None]:
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001
        return None, None
    if not gps:
        return None, None
    lat = _degrees(gps.get(2), gps.get(1), "N", "S", 90)
    lon = _degrees(gps.get(4), gps.get(3), "E", "W", 180)
    if lat is None or lon is None:
        return None, None
    return lat, lon


# ---- processing (worker thread) --------------------------------------------------------------------

@dataclass
class _Processed:
    served: bytes
    thumb: bytes
    mime: str
    width: int
    height: int
    taken_at: datetime | None
    gps_lat: str | None
    gps_lon: str | None


def _for_format(img: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                rgba = img.convert("RGBA")
                bg = Image.new("RGB", rgba.size, (255, 255, 255))
                bg.paste(rgba, mask=rgba.getchannel("A"))
                return bg
            return img.convert("RGB")
        return img
    if fmt == "PNG":
        if img.mode == "P":
            return img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode not in ("1", "L", "LA", "RGB", "RGBA"):
            return img.convert("RGBA")
        return img
    # WEBP
    if img.mode not in ("RGB", "RGBA"):
        has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    return img


def _encode(img: Image.Image, fmt: str) -> bytes:
    """The pixels only: nothing from the upload's ``info`` (comments, ICC, XMP, text chunks) reaches the output.
    ``info`` is set aside for the call instead of encoding a metadata-free copy of the bitmap."""
    info, img.info = img.info, {}
    try:
        buf = io.BytesIO()
        if fmt == "JPEG":
            img.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
        elif fmt == "PNG":
            img.save(buf, "PNG", optimize=False)
        else:
            img.save(buf, "WEBP", quality=JPEG_QUALITY)
        return buf.getvalue()
    finally:
        img.info = info


def _looks_like_image(src: Path | BinaryIO) -> bool:
    if isinstance(src, Path):
        with open(src, "rb") as f:
            head = f.read(16)
    else:
        src.seek(0)
        head = src.read(16)
    return (head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n")
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or (HEIF and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim")))


def _process(src: Path | BinaryIO, max_pixels: int) -> _Processed:
    """Check, decode, turn upright, re-encode without metadata, and make the thumbnail — all on ONE bitmap.
    ``src``: a file's path, or a file object read from its start (it is left open)."""
    if not isinstance(src, Path):
        src.seek(0)
    try:
        img = Image.open(src, formats=OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _MediaFailure("too_many_pixels") from exc
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError, EOFError) as exc:
        # an image type we accept whose header is cut or broken is damaged; anything else is unsupported
        raise _MediaFailure("corrupt" if _looks_like_image(src) else "unsupported") from exc
    try:
        kind = img.format or ""
        if kind not in SERVED:
            raise _MediaFailure("unsupported")
        w, h = img.size
        if w <= 0 or h <= 0:
            raise _MediaFailure("corrupt")
        if w * h > max_pixels:  # from the header, before anything is decoded
            raise _MediaFailure("too_many_pixels")
        try:
            exif = img.getexif()
            taken_at = _taken_at(exif)
            lat, lon = _gps(exif)
        except Exception:  # noqa: BLE001 - unreadable metadata is dropped, the picture still counts
            taken_at, lat, lon = None, None, None
        try:
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # the upright bitmap replaces the decoded one
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _MediaFailure("too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
            raise _MediaFailure("corrupt") from exc
        fmt, mime = SERVED[kind]
        try:
            out = _for_format(img, fmt)
            if out is not img:
                img.close()  # converted: the decoded bitmap is no longer needed
            width, height = out.size
            served = _encode(out, fmt)
            # Pillow's own thumbnail (size, filter, reducing gap), in place: the full-size bitmap is released
            out.thumbnail((THUMB_SIDE, THUMB_SIDE))
            thumb = served if out.size == (width, height) else _encode(out, fmt)
        except (OSError, ValueError) as exc:
            raise _MediaFailure("corrupt") from exc
        return _Processed(served=served, thumb=thumb, mime=mime, width=width, height=height, taken_at=taken_at,
                          gps_lat=lat, gps_lon=lon)
    finally:
        img.close()


def _failure_to_error(exc: _MediaFailure, settings: Settings) -> Exception:
    if exc.kind == "too_large":
        return _too_large(settings.photo_max_bytes)
    if exc.kind == "empty":
        return _empty()
    if exc.kind == "too_many_pixels":
        return _too_many_pixels(settings.photo_max_pixels)
    if exc.kind == "corrupt":
        return _corrupt()
    return _unsupported()


def _write_staged(data: bytes, dest_dir: Path) -> tuple[str, Path]:
    """``data`` in a fresh, fsynced scratch file: (its sha256, the file)."""
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix="staged-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest(), path


def _stage_image_sync(src: Path | BinaryIO, max_pixels: int,
                      dest_dir: Path) -> tuple[StoredImage, list[tuple[str, Path]]]:
    """Process the photo in ``src`` and write its served copy and thumbnail (one file when they are the same
    bytes) to ``dest_dir``; the encoded bytes do not outlive the call."""
    p = _process(src, max_pixels)
    sha, served = _write_staged(p.served, dest_dir)
    files = [(sha, served)]
    thumb_sha = sha
    if p.thumb is not p.served:
        try:
            thumb_sha, thumb = _write_staged(p.thumb, dest_dir)
        except BaseException:
            served.unlink(missing_ok=True)
            raise
        files.append((thumb_sha, thumb))
    return StoredImage(sha256=sha, thumb_sha256=thumb_sha, mime=p.mime, width=p.width, height=p.height,
                       size_bytes=len(p.served), taken_at=p.taken_at, gps_lat=p.gps_lat, gps_lon=p.gps_lon), files


def _size_of(f: BinaryIO) -> int:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(0)
    return size


def _stage_upload_sync(src: BinaryIO, limit: int, max_pixels: int,
                       scratch: Callable[[], Path]) -> tuple[StoredImage, list[tuple[str, Path]]]:
    """An uploaded photo, read where the form parser left it (memory, or its own temporary file past 1 MB):
    its size checked before a byte is read, then :func:`_stage_image_sync`. One hand-off to a worker thread
    for all of it (issue 17: each hand-off and each system call on the event loop's side cost CPU under load)."""
    size = _size_of(src)
    if size > limit:
        raise _MediaFailure("too_large")
    if size == 0:
        raise _MediaFailure("empty")
    return _stage_image_sync(src, max_pixels, scratch())


def _unlink_all(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _fsync_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        h = hashlib.sha256()
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---- staging ---------------------------------------------------------------------------------------

class Staging:
    """Checked uploads of one request, waiting in the scratch directory until :meth:`install`.

    ``async with Staging(storage, settings) as staging:`` — :meth:`image` / :meth:`document` check and
    clean an upload and return what will be stored (sha256s, size, EXIF facts); :meth:`install` moves the
    files into storage (call it when the database write that refers to them has succeeded); whatever was
    not installed is deleted on exit. Nothing reaches storage from a request that fails.
    """

    def __init__(self, storage: Storage, settings: Settings) -> None:
        self.storage = storage
        self.settings = settings
        self._dir: Path | None = None
        self._pending: list[tuple[str, Path]] = []

    def _scratch(self) -> Path:
        """The scratch directory, created when first needed, in a worker thread (never on the event loop)."""
        if self._dir is None:
            self._dir = scratch_dir(self.storage, self.settings.media_dir)
        return self._dir

    async def __aenter__(self) -> Staging:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.discard()

    async def _spool(self, upload: UploadFile, limit: int) -> tuple[Path, int]:
        """Stream ``upload`` to a temp file in the scratch directory; 413 ``media.too_large`` past ``limit``;
        422 ``media.empty`` for 0 bytes. The caller deletes the returned path."""
        try:
            path, size = await anyio.to_thread.run_sync(lambda: _spool_sync(upload.file, self._scratch(), limit))
        except _MediaFailure as exc:
            raise _too_large(limit) from exc
        if size == 0:
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))
            raise _empty()
        return path, size

    async def _staged_image(self, stage: Callable[..., tuple[StoredImage, list[tuple[str, Path]]]],
                            *args: Any) -> StoredImage:
        """``stage(*args)`` in a worker thread, holding a decode slot; its files wait for :meth:`install`."""
        try:
            stored, files = await anyio.to_thread.run_sync(stage, *args, limiter=_DECODE_LIMITER)
        except _MediaFailure as exc:
            raise _failure_to_error(exc, self.settings) from exc
        self._pending.extend(files)
        return stored

    async def _image_file(self, path: Path) -> StoredImage:
        return await self._staged_image(_stage_image_sync, path, self.settings.photo_max_pixels, self._scratch())

    async def image(self, upload: UploadFile) -> StoredImage:
        """Check one uploaded photo by content, and stage its cleaned copy and thumbnail.

        413 ``media.too_large``; 422 ``media.empty`` / ``media.unsupported_type`` / ``media.too_many_pixels`` /
        ``media.corrupt``. The client's filename and content type are ignored.
        """
        return await self._staged_image(_stage_upload_sync, upload.file, self.settings.photo_max_bytes,
                                        self.settings.photo_max_pixels, self._scratch)

    async def document(self, upload: UploadFile) -> StoredDocument:
        """A notice attachment: a PDF (by its ``%PDF-`` magic, staged as is) or an image (cleaned like a
        photo). Size cap ``settings.attachment_max_bytes``."""
        path, size = await self._spool(upload, self.settings.attachment_max_bytes)
        name = safe_display_name(upload.filename)
        keep = False
        try:
            if await anyio.to_thread.run_sync(_is_pdf, path):
                sha = await anyio.to_thread.run_sync(_fsync_sha256, path)
                self._pending.append((sha, path))
                keep = True
                return StoredDocument(sha256=sha, mime="application/pdf", size_bytes=size, filename=name)
            img = await self._image_file(path)
            return StoredDocument(sha256=img.sha256, mime=img.mime, size_bytes=img.size_bytes, filename=name,
                                  thumb_sha256=img.thumb_sha256, width=img.width, height=img.height,
                                  taken_at=img.taken_at, gps_lat=img.gps_lat, gps_lon=img.gps_lon)
        except Invalid as exc:
            if exc.code == "media.unsupported_type":
                raise Invalid("media.unsupported_type", "不支持的附件类型，仅支持 PDF 和图片",
                              "Unsupported attachment type; PDF or images only") from exc
            raise
        finally:
            if not keep:
                path.unlink(missing_ok=True)

    async def install(self) -> None:
        """Move every staged file into storage (idempotent per blob)."""
        while self._pending:
            sha, path = self._pending[0]
            await self.storage.adopt_file(path, sha)
            self._pending.pop(0)

    async def discard(self) -> None:
        """Delete what was staged and not installed."""
        pending, self._pending = self._pending, []
        if pending:
            await anyio.to_thread.run_sync(_unlink_all, [p for _, p in pending])


async def store_image(upload: UploadFile, *, settings: Settings, storage: Storage) -> StoredImage:
    """Check, clean and store one photo at once (:meth:`Staging.image`, then installed)."""
    async with Staging(storage, settings) as staging:
        stored = await staging.image(upload)
        await staging.install()
        return stored


async def store_document(upload: UploadFile, *, settings: Settings, storage: Storage) -> StoredDocument:
    """Check, clean and store one notice attachment at once (:meth:`Staging.document`, then installed)."""
    async with Staging(storage, settings) as staging:
        stored = await staging.document(upload)
        await staging.install()
        return stored


def safe_display_name(filename: str | None, *, limit: int = 100) -> str | None:
    """A client's filename reduced to something harmless to show: last path segment, no control
    characters, capped. Never used to build a path."""
    if not filename:
        return None
    name = re.split(r"[\\/]", filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return name[:limit] or None


def _is_pdf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(5) == b"%PDF-"
