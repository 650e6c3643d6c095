"""Reading the generated PDFs back as a person and a scanner would: the text of each page (pypdf), and the QR
codes found on each page rendered at 150 dpi (pypdfium2 + zxing-cpp)."""

from __future__ import annotations

import io
import unicodedata

import httpx
import pypdfium2 as pdfium
import zxingcpp
from pypdf import PdfReader


def assert_pdf(r: httpx.Response, status: int = 200) -> bytes:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.content.startswith(b"%PDF-") and int(r.headers["content-length"]) == len(r.content)
    return r.content


def nfkc(text: str) -> str:
    """Text as :func:`page_texts` reads it (full-width punctuation folded: "：" is ":")."""
    return unicodedata.normalize("NFKC", text)


def page_texts(pdf: bytes) -> list[str]:
    """Each page's text, NFKC-folded (so a full-width form reads as its ASCII letter), without line breaks
    (a long line wraps at any character)."""
    reader = PdfReader(io.BytesIO(pdf))
    return [unicodedata.normalize("NFKC", p.extract_text() or "").replace("\n", "") for p in reader.pages]


def page_qr_codes(pdf: bytes, dpi: int = 150) -> list[list[str]]:
    """The contents of the QR codes zxing-cpp finds on each page rendered at ``dpi``."""
    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for i in range(len(doc)):
            page = doc[i]
            image = page.render(scale=dpi / 72).to_pil()
            out.append([b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode])
            page.close()
        return out
    finally:
        doc.close()
