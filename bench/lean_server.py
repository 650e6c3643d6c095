"""The app's server with a leaner photo pipeline patched in — evidence for a proposed app.media change.

    python -m bench.lean_server serve --port 8000 --no-migrate      (used by ``bench.photos --lean-images``)
    python -m bench.lean_server --check                              (the patched pipeline's output equals
                                                                      the app's, byte for byte)

Nothing in app/ is edited: this module replaces ``app.media.images._process_locked`` and
``_DECODE_SLOTS`` in its own process only. The proposal, measured by ``bench.photos --lean-images``:

* ``ImageOps.exif_transpose(img, in_place=True)`` instead of a transposed full copy (+48 MB per 12 MP photo);
* encode without ``img.copy()`` just to clear ``info`` (``_encode``: another +48 MB);
* the thumbnail resized straight from the served image (``resize`` with thumbnail()'s own size, filter and
  reducing gap) instead of ``copy()`` + ``thumbnail()`` (+48 MB);
* decode slots = CPU count (2 here) instead of 4: on 2 cores more slots add memory, not throughput;
* and, separately, the report route releases its database connection while the photos are processed:
  ``app.supervision.service.prepare_report`` is wrapped to ``await session.commit()`` after its checks (the
  route then stores the photos and ``file_report`` opens a new transaction) — today the request holds its
  connection (PostgreSQL: one of the pool's 20; SQLite: THE writer, BEGIN IMMEDIATE) for the seconds the
  photos take, so other writes wait behind uploads.

The served bytes and the thumbnail are identical to the app's (``--check``).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from app.media import images as m


def _thumb_size(w: int, h: int, side: int) -> tuple[int, int] | None:
    """The size Image.thumbnail((side, side)) gives (Pillow's own rounding)."""
    x, y = side, side
    if x >= w and y >= h:
        return None
    aspect = w / h

    def round_aspect(number: float, key: Any) -> int:
        return max(min(math.floor(number), math.ceil(number), key=key), 1)

    if x / y >= aspect:
        x = round_aspect(y * aspect, key=lambda n: abs(aspect - n / y))
    else:
        y = round_aspect(x / aspect, key=lambda n: 0 if n == 0 else abs(aspect - x / n))
    return x, y


def _encode_no_copy(img: Image.Image, fmt: str) -> bytes:
    saved = img.info
    img.info = {}  # nothing from the upload reaches the output (same as app.media.images._encode)
    try:
        buf = io.BytesIO()
        if fmt == "JPEG":
            img.save(buf, "JPEG", quality=m.JPEG_QUALITY, optimize=True)
        elif fmt == "PNG":
            img.save(buf, "PNG", optimize=False)
        else:
            img.save(buf, "WEBP", quality=m.JPEG_QUALITY)
        return buf.getvalue()
    finally:
        img.info = saved


def process_lean(path: Path, max_pixels: int) -> Any:
    """app.media.images._process_locked with the three full-size copies removed (same checks, same output)."""
    try:
        img = Image.open(path, formats=m.OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise m._MediaFailure("too_many_pixels") from exc
    except (m.UnidentifiedImageError, SyntaxError, ValueError, OSError, EOFError) as exc:
        raise m._MediaFailure("corrupt" if m._looks_like_image(path) else "unsupported") from exc
    with img:
        kind = img.format or ""
        if kind not in m.SERVED:
            raise m._MediaFailure("unsupported")
        w, h = img.size
        if w <= 0 or h <= 0:
            raise m._MediaFailure("corrupt")
        if w * h > max_pixels:
            raise m._MediaFailure("too_many_pixels")
        try:
            exif = img.getexif()
            taken_at = m._taken_at(exif)
            lat, lon = m._gps(exif)
        except Exception:  # noqa: BLE001
            taken_at, lat, lon = None, None, None
        try:
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise m._MediaFailure("too_many_pixels") from exc
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
            raise m._MediaFailure("corrupt") from exc
        fmt, mime = m.SERVED[kind]
        try:
            served_img = m._for_format(img, fmt)
            served = _encode_no_copy(served_img, fmt)
            size = _thumb_size(served_img.width, served_img.height, m.THUMB_SIDE)
            thumb_img = (served_img.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0) if size
                         else served_img)
            thumb = _encode_no_copy(thumb_img, fmt)
        except (OSError, ValueError) as exc:
            raise m._MediaFailure("corrupt") from exc
        return m._Processed(served=served, thumb=thumb, mime=mime, width=served_img.width,
                            height=served_img.height, taken_at=taken_at, gps_lat=lat, gps_lon=lon)


def patch() -> None:
    from app.supervision import service as supervision

    m._process_locked = process_lean
    m._DECODE_SLOTS = threading.BoundedSemaphore(min(4, os.cpu_count() or 1))
    prepare = supervision.prepare_report

    async def prepare_then_release(session: Any, **kw: Any) -> Any:
        draft = await prepare(session, **kw)
        await session.commit()  # give the connection back while the photos are processed
        return draft

    supervision.prepare_report = prepare_then_release


def check() -> int:
    """The lean pipeline gives exactly the app's bytes for the benchmark photos."""
    from bench.photos import photos

    photos()
    ok = True
    for p in sorted((Path(__file__).parent / "results" / "photos").glob("phone_*.jpg")):
        a = m._process_locked(p, 40_000_000)
        b = process_lean(p, 40_000_000)
        same = (a.served, a.thumb, a.width, a.height, a.taken_at, a.gps_lat, a.gps_lon) == (
            b.served, b.thumb, b.width, b.height, b.taken_at, b.gps_lat, b.gps_lon)
        ok &= same
        print(f"{p.name}: served {hashlib.sha256(a.served).hexdigest()[:12]} / {hashlib.sha256(b.served).hexdigest()[:12]}"
              f", thumb {len(a.thumb)} / {len(b.thumb)} bytes: {'identical' if same else 'DIFFERENT'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        raise SystemExit(check())
    patch()
    from app.__main__ import main

    raise SystemExit(main(sys.argv[1:]))
