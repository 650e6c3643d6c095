"""Request guards before any handler runs (pure ASGI middleware): body caps, JSON nesting depth and NUL
characters (which PostgreSQL text cannot hold).

The guards read a body the way the framework will parse it, whatever the headers try:

* one ``Content-Type`` header at most (several → 400: Starlette reads the first, a dict the last);
* JSON is what FastAPI parses as JSON (its own test below: ``application/json`` or ``application/*+json``
  read with the email parser; no header → not parsed); url-encoded and multipart forms are what
  Starlette parses as such (python-multipart's ``parse_options_header``, as Starlette calls it);
* JSON and url-encoded bodies are buffered and checked before the app sees them; a multipart body streams
  to the app under its size cap, declared UTF-8 or no charset at all (Starlette would decode fields in the
  header's ``charset``, e.g. UTF-7). Its text fields are checked once parsed, as the endpoint gets them
  (:func:`form_without_nul`, a dependency of every endpoint with a form body, :data:`FORM_CHECKED`): a NUL in
  one refuses the request before the endpoint's other dependencies run (files may hold any byte). Following
  the stream with a second multipart parser here had cost 0.34 M instructions of a paper ballot's 7.58 M; the
  dependency costs 0.07 M of them (issue 17).
"""

from __future__ import annotations

import codecs
import email.message

from fastapi import Depends
from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import RequestRefused, problem

MAX_JSON_DEPTH = 32
FORM = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data"

Problem = tuple[int, str, str, str]
TOO_LARGE: Problem = (413, "request.too_large", "请求内容过大", "Request too large")
NUL_IN_URL: Problem = (400, "request.nul_character", "请求中含有不允许的空字符", "The request contains a NUL character")
NUL_IN_BODY: Problem = (422, *NUL_IN_URL[1:])
TOO_DEEP: Problem = (422, "request.too_deep", "请求内容嵌套过深", "Request body nested too deeply")
CONTENT_TYPES: Problem = (400, "request.content_type_repeated", "请求只能带一个 Content-Type 头",
                          "Send one Content-Type header, not several")
CHARSET: Problem = (415, "request.unsupported_charset", "表单内容须使用 UTF-8 编码", "Form fields must be UTF-8")


def refused(p: Problem) -> RequestRefused:
    return RequestRefused(*p)


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


def parsed_as_json(content_type: str) -> bool:
    """FastAPI's decision to parse a body as JSON (fastapi.routing.get_request_handler, strict content
    type): the same email-parser reading, so an odd header (``application/json\\xa0``) is judged alike."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def form_without_nul(request: Request) -> None:
    """422 ``request.nul_character`` when a text field of the request's form holds a NUL. A dependency of every
    endpoint whose body is a form (:data:`FORM_CHECKED`; ``tests/core/test_body_guards.py`` holds every such
    route to it): FastAPI parses the form before the endpoint's dependencies run, and this reads the form kept
    on the request — the values the endpoint gets, decoded as it gets them."""
    form = await request.form()
    for _, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            raise refused(NUL_IN_BODY)


FORM_CHECKED = [Depends(form_without_nul)]


def _is_utf8(charset: bytes) -> bool:
    try:
        return codecs.lookup(charset.decode("latin-1")).name == "utf-8"
    except LookupError:
        return False


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def limit_for(self, path: str, media_type: bytes) -> int:
        s = self.settings
        if path.endswith("households:import"):
            return s.import_max_bytes + 64 * 1024
        if media_type == MULTIPART:
            return max(s.photo_max_bytes * 9, s.attachment_max_bytes * 5) + 1024 * 1024
        return s.request_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in (scope.get("query_string") or b"").upper():
            await self._reject(scope, send, NUL_IN_URL)
            return
        headers = Headers(scope=scope)  # the class Starlette and FastAPI read headers with
        content_types = headers.getlist("content-type")
        if len(content_types) > 1:
            await self._reject(scope, send, CONTENT_TYPES)
            return
        content_type = content_types[0] if content_types else ""
        media_type, params = parse_options_header(content_type)
        limit = self.limit_for(scope.get("path", ""), media_type)
        if parsed_as_json(content_type) or media_type == FORM:
            await self._buffered(scope, receive, send, limit, is_json=media_type != FORM)
            return
        if media_type == MULTIPART and b"charset" in params and not _is_utf8(params[b"charset"]):
            await self._reject(scope, send, CHARSET)
            return
        try:
            declared = int(headers.get("content-length", ""))
        except ValueError:
            declared = None
        if declared is not None and declared > limit:
            await self._reject(scope, send, TOO_LARGE)
            return
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise refused(TOO_LARGE)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except RequestRefused as exc:
            if not started:
                await self._reject(scope, send, (exc.status_code, exc.code, exc.zh, exc.en))

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
                await self._reject(scope, send, TOO_LARGE)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        # JSON: a raw 0 byte (also every UTF-16/32 text) or the escape; a form: a raw 0 byte or %00
        has_nul = b"\x00" in body or (b"\\u0000" in body if is_json else b"%00" in body)
        if has_nul:
            await self._reject(scope, send, NUL_IN_BODY)
            return
        if is_json and body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
            await self._reject(scope, send, TOO_DEEP)
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
    async def _reject(scope: Scope, send: Send, p: Problem) -> None:
        """The problem+json answer, in the caller's language like every other error."""
        status, code, zh, en = p
        response = problem(Request(scope), status=status, code=code, zh=zh, en=en)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
