"""The storage and image functions on their own (no HTTP)."""

from __future__ import annotations

import hashlib
import io
from fractions import Fraction

import pytest
from fastapi import UploadFile

from app.core.config import Settings
from app.core.errors import Invalid
from app.media.images import decimal_string, safe_display_name, store_document, store_image
from app.media.storage import LocalStorage, Storage
from tests.media.imaging import phone_jpeg


async def test_local_storage_roundtrip(tmp_path) -> None:
    st = LocalStorage(tmp_path / "m")
    assert isinstance(st, Storage)
    src = tmp_path / "x.bin"
    src.write_bytes(b"hello")
    sha = await st.put_file(src)
    assert sha == hashlib.sha256(b"hello").hexdigest()
    assert st.local_path(sha) == tmp_path / "m" / sha[:2] / sha[2:4] / sha
    assert await st.put_bytes(b"hello") == sha  # idempotent
    assert await st.open_bytes(sha) == b"hello" and await st.exists(sha)
    assert src.exists()  # put_file copies
    assert st.local_path("../../etc/passwd") is None and not await st.exists("../x")
    with pytest.raises(ValueError):
        await st.open_bytes("../../etc/passwd")


def test_exact_decimal_degrees() -> None:
    assert decimal_string(Fraction(36) + Fraction(6, 60) + Fraction(15, 3600)) == "36.104167"
    assert decimal_string(-(Fraction(120) + Fraction(28, 60) + Fraction(6, 3600))) == "-120.468333"
    assert decimal_string(Fraction(1, 2_000_000)) == "0.000001"  # half up
    assert decimal_string(Fraction(-1, 10_000_000)) == "0.000000"


def test_safe_display_name() -> None:
    assert safe_display_name("../../etc/passwd") == "passwd"
    assert safe_display_name("C:\\x\\..\\报告.pdf") == "报告.pdf"
    assert safe_display_name("..\x00..") is None


async def test_store_document_pdf_and_image(tmp_path) -> None:
    s = Settings(media_dir=tmp_path / "m")
    st = LocalStorage(s.media_dir)
    pdf = b"%PDF-1.4\n%test\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    doc = await store_document(UploadFile(io.BytesIO(pdf), filename="../公告.pdf"), settings=s, storage=st)
    assert doc.mime == "application/pdf" and doc.filename == "公告.pdf" and doc.size_bytes == len(pdf)
    assert await st.open_bytes(doc.sha256) == pdf
    img = await store_document(UploadFile(io.BytesIO(phone_jpeg()), filename="a.jpg"), settings=s, storage=st)
    assert img.mime == "image/jpeg" and img.thumb_sha256 and img.gps_lat == "36.104167"
    with pytest.raises(Invalid) as e:
        await store_document(UploadFile(io.BytesIO(b"<html>"), filename="a.pdf"), settings=s, storage=st)
    assert e.value.code == "media.unsupported_type"


async def test_store_image_direct(tmp_path) -> None:
    s = Settings(media_dir=tmp_path / "m")
    st = LocalStorage(s.media_dir)
    out = await store_image(UploadFile(io.BytesIO(phone_jpeg(lat=None)), filename="x"), settings=s, storage=st)
    assert out.gps_lat is None and out.gps_lon is None and out.taken_at is not None
    assert out.original_sha256 is None


async def test_heic_becomes_clean_jpeg(tmp_path) -> None:
    pytest.importorskip("pillow_heif")
    from PIL import Image

    src = Image.open(io.BytesIO(phone_jpeg()))
    buf = io.BytesIO()
    try:
        src.save(buf, format="HEIF", exif=src.info["exif"])
    except (KeyError, OSError, ValueError):
        pytest.skip("no HEIF encoder in this pillow-heif build")
    heic = buf.getvalue()
    assert heic[4:12] == b"ftypheic"
    s = Settings(media_dir=tmp_path / "m")
    st = LocalStorage(s.media_dir)
    out = await store_image(UploadFile(io.BytesIO(heic), filename="IMG_0001.HEIC"), settings=s, storage=st)
    assert out.mime == "image/jpeg" and (out.width, out.height) == (48, 64)
    assert out.gps_lat == "36.104167" and out.gps_lon == "120.468333"
    served = Image.open(io.BytesIO(await st.open_bytes(out.sha256)))
    assert served.format == "JPEG" and len(served.getexif()) == 0
