"""The one way a stored file (photo, thumbnail, notice attachment, objection or ballot photo, acceptance
photo) goes out over HTTP: the cleaned bytes with the same safe headers everywhere.

* ``Content-Security-Policy: default-src 'none'; sandbox`` — a file opened directly in the browser runs no
  script and loads nothing, whatever it contains;
* ``X-Content-Type-Options: nosniff`` — served only as its checked type;
* ``Cache-Control: private`` — browsers may keep it, shared caches never;
* images ``inline``; everything else (PDFs, which can carry JavaScript) as an ``attachment`` download, with
  an ASCII file name and the uploaded name as ``filename*``.

Authorization is the caller's job (404 for those who may not see the file). Where the bytes come from is
the storage's: a file on the app's disk; a stream from the object store through the app; or, with
``MEDIA_REDIRECT=presigned``, a 307 to a short-lived signed URL of the object store, which answers with the
file's type, disposition and ``Cache-Control: private`` (a store cannot be told to add the CSP and nosniff
headers: serve its domain apart from the app's).
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from app.core.errors import NotFound
from app.media.models import MediaObject
from app.media.storage import Storage

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}
INLINE = frozenset({"image/jpeg", "image/png", "image/webp"})


def headers(m: MediaObject, *, thumbnail: bool) -> dict[str, str]:
    """The response headers of ``m`` (or of its thumbnail)."""
    out = {"Cache-Control": "private", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; sandbox"}
    ascii_name = f"{m.id}{'-thumb' if thumbnail else ''}.{_EXT.get(m.mime, 'bin')}"
    disposition = f'{"inline" if m.mime in INLINE else "attachment"}; filename="{ascii_name}"'
    if m.filename and not thumbnail:
        disposition += f"; filename*=UTF-8''{quote(m.filename, safe='')}"
    out["Content-Disposition"] = disposition
    return out


def _not_found(m: MediaObject) -> NotFound:
    if m.mime.startswith("image/"):
        return NotFound("photo.not_found", "照片不存在", "Photo not found")
    return NotFound("media.not_found", "文件不存在", "File not found")


async def media_response(storage: Storage, m: MediaObject, *, thumbnail: bool = False) -> Response:
    """The stored (cleaned) version of ``m``, or its thumbnail (404 ``media.no_thumbnail`` when it has none)."""
    sha = m.thumb_sha256 if thumbnail else m.sha256
    if not sha:
        if thumbnail:
            raise NotFound("media.no_thumbnail", "该文件没有缩略图", "No thumbnail for this file")
        raise _not_found(m)
    h = headers(m, thumbnail=thumbnail)
    path = storage.local_path(sha)
    if path is not None:
        return FileResponse(path, media_type=m.mime, headers=h)
    url = await storage.presigned_url(sha, mime=m.mime, disposition=h["Content-Disposition"])
    if url is not None:
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    try:
        blob = await storage.stream(sha)
    except FileNotFoundError:
        raise _not_found(m) from None
    return StreamingResponse(blob.chunks, media_type=m.mime, headers=h | {"Content-Length": str(blob.size)})
