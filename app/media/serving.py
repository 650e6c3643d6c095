"""HTTP responses for stored media: the metadata-free bytes with safe headers."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import FileResponse, Response

from app.core.errors import NotFound
from app.media.models import MediaObject
from app.media.storage import Storage

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf"}


def _headers(m: MediaObject, *, thumbnail: bool) -> dict[str, str]:
    headers = {"Cache-Control": "private", "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    ext = _EXT.get(m.mime, "bin")
    ascii_name = f"{m.id}{'-thumb' if thumbnail else ''}.{ext}"
    disposition = f'inline; filename="{ascii_name}"'
    if m.filename and not thumbnail:
        disposition += f"; filename*=UTF-8''{quote(m.filename, safe='')}"
    headers["Content-Disposition"] = disposition
    return headers


async def media_response(storage: Storage, m: MediaObject, *, thumbnail: bool = False) -> Response:
    """The stored (cleaned) version or its thumbnail. Authorization is the caller's job."""
    sha = m.thumb_sha256 if thumbnail else m.sha256
    if not sha:
        raise NotFound("photo.not_found", "照片不存在", "Photo not found")
    headers = _headers(m, thumbnail=thumbnail)
    path = storage.local_path(sha)
    if path is not None:
        return FileResponse(path, media_type=m.mime, headers=headers)
    try:
        data = await storage.open_bytes(sha)
    except FileNotFoundError as exc:
        raise NotFound("photo.not_found", "照片不存在", "Photo not found") from exc
    return Response(content=data, media_type=m.mime, headers=headers)
