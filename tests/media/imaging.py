"""Real image bytes for tests, made with Pillow (phone-like JPEGs with EXIF GPS and orientation)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, TiffImagePlugin


def _r(n: int, d: int = 1) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(n, d)


# 36°06'15" N, 120°28'06" E (Qingdao, Laoshan)  ->  36.104167, 120.468333
GPS_LAT = ((36, 1), (6, 1), (15, 1))
GPS_LON = ((120, 1), (28, 1), (6, 1))


def phone_jpeg(width: int = 64, height: int = 48, *, orientation: int = 6, color: tuple = (200, 30, 30),
               taken: str = "2026:11:20 09:30:00", lat=GPS_LAT, lon=GPS_LON) -> bytes:
    """A JPEG as a phone writes it: EXIF with Make/Model, orientation, DateTimeOriginal and a GPS IFD."""
    img = Image.new("RGB", (width, height), color)
    # a marker in the top-left corner so the orientation can be checked after transposing
    for x in range(8):
        for y in range(4):
            img.putpixel((x, y), (0, 0, 255))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Phone X"  # Model
    exif[0x0112] = orientation
    exif[0x0132] = taken
    exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    exif.get_ifd(0x8769)[0x9011] = "+08:00"  # OffsetTimeOriginal
    if lat is not None:
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = tuple(_r(*p) for p in lat)
        gps[3] = "E"
        gps[4] = tuple(_r(*p) for p in lon)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif, comment=b"secret comment")
    return buf.getvalue()


def png_bytes(width: int = 40, height: int = 30, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height), 128 if mode in ("L", "P", "1") else (10, 120, 10)).save(buf, "PNG")
    return buf.getvalue()


def webp_bytes(width: int = 40, height: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (10, 10, 200)).save(buf, "WEBP")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid-looking 1-bit PNG header for width × height pixels with a tiny (bogus) body: the pixel cap
    must refuse it from the header alone, before any decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def noisy_jpeg(width: int = 400, height: int = 300) -> bytes:
    """A JPEG with enough entropy that cutting it in half leaves the header intact and the scan short."""
    import random

    rnd = random.Random(7)
    img = Image.frombytes("RGB", (width, height), bytes(rnd.getrandbits(8) for _ in range(width * height * 3)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()
