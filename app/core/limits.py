"""Request guards before any handler runs (pure ASGI middleware): body caps, JSON nesting depth and NUL
characters (which PostgreSQL text cannot hold)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings

MAX_JSON_DEPTH = 32


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's body reader passes it through."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in body:
        if in_string:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:
                in_string = False
        elif ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return deepest


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit_for(self, scope: Scope) -> int:
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        path = scope.get("path", "")
        s = self.settings
        if path.endswith("households:import"):
            return s.import_max_bytes + 64 * 1024
        if ctype.startswith("multipart/form-data"):
            return max(s.photo_max_bytes * 9, s.attachment_max_bytes * 5) + 1024 * 1024
        return s.request_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in (scope.get("query_string") or b"").upper():
            await self._reject(send, 400, "request.nul_character", "请求中含有不允许的空字符")
            return
        limit = self.limit_for(scope)
        headers = dict(scope.get("headers") or [])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype == b"application/json" or ctype.endswith(b"+json") or ctype == b"application/x-www-form-urlencoded":
            await self._buffered(scope, receive, send, limit, is_json=ctype != b"application/x-www-form-urlencoded")
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    await self._reject(send)
                    return
            except ValueError:
                pass
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int, *, is_json: bool) -> None:
        """Buffer a JSON or form body (it is capped), refuse it if too deep or carrying NUL, then replay it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        has_nul = b"\x00" in body or (b"\\u0000" in body if is_json else b"%00" in body)
        if has_nul:
            await self._reject(send, 422, "request.nul_character", "请求中含有不允许的空字符")
            return
        if is_json and body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
            await self._reject(send, 422, "request.too_deep", "请求内容嵌套过深")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _reject(send: Send, status: int = 413, code: str = "request.too_large",
                      detail: str = "请求内容过大") -> None:
        title = {413: "Content Too Large", 422: "Unprocessable Content", 400: "Bad Request"}.get(status, "Error")
        body = json.dumps({"type": f"/problems/{code}", "title": title, "status": status,
                           "detail": detail, "code": code}, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
