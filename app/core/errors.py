"""Domain errors rendered as RFC 9457 problem+json with stable dotted codes.

``detail`` is Chinese by default and English with ``Accept-Language: en``. Nothing internal leaks.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("app.errors")
PROBLEM = "application/problem+json"


class AppError(Exception):
    status: int = 400
    code: str = "request.bad"
    zh: str = "请求无效"
    en: str = "Bad request"

    def __init__(
        self,
        code: str | None = None,
        zh: str | None = None,
        en: str | None = None,
        *,
        status: int | None = None,
        errors: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        self.code = code or self.code
        self.zh = zh or self.zh
        self.en = en or self.en
        if status is not None:
            self.status = status
        self.errors = errors
        self.extra = extra
        super().__init__(f"{self.code}: {self.en}")


class NotFound(AppError):
    status = 404
    code = "not_found"
    zh = "资源不存在"
    en = "Not found"


class Conflict(AppError):
    status = 409
    code = "conflict"
    zh = "与当前状态冲突"
    en = "Conflicts with the current state"


class Forbidden(AppError):
    status = 403
    code = "auth.forbidden"
    zh = "无权执行此操作"
    en = "Not permitted"


class Unauthorized(AppError):
    status = 401
    code = "auth.unauthenticated"
    zh = "需要登录"
    en = "Authentication required"


class Invalid(AppError):
    status = 422
    code = "validation.failed"
    zh = "提交的数据未通过校验"
    en = "The submitted data is invalid"


class TooLarge(AppError):
    status = 413
    code = "request.too_large"
    zh = "请求内容过大"
    en = "Request too large"


class RequestRefused(StarletteHTTPException):
    """A request refused while its body streams in (app.core.limits). An HTTPException, so FastAPI's body
    reader passes it on as it is; rendered with its own code."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(status_code=status, detail=en)
        self.code, self.zh, self.en = code, zh, en


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"
    zh = "请求过于频繁，请稍后再试"
    en = "Too many requests, try again later"


def wants_english(request: Request) -> bool:
    lang = request.headers.get("accept-language", "")
    first = lang.split(",")[0].strip().lower()
    return first.startswith("en")


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    zh: str,
    en: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": en if wants_english(request) else zh,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _clean_loc(loc: Any) -> list[Any]:
    return [p for p in loc if not isinstance(p, bytes)]



def _unavailable(request: Request, exc: DBAPIError | PoolTimeout) -> JSONResponse:
    """503, retry in a second: the database dropped the connection, or no pooled connection came free in time."""
    log.warning("database unavailable: %s", exc.orig if isinstance(exc, DBAPIError) else exc)
    return problem(request, status=503, code="service.unavailable",
                   zh="服务暂时不可用，请稍后重试", en="Service temporarily unavailable",
                   headers={"Retry-After": "1"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if isinstance(exc, TooManyRequests) and "retry_after" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retry_after"])}
        return problem(
            request, status=exc.status, code=exc.code, zh=exc.zh, en=exc.en, errors=exc.errors,
            headers=headers, **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors()[:100]:
            msg = str(e.get("msg", ""))[:300]
            errors.append({"loc": _clean_loc(e.get("loc", ())), "msg": msg, "type": e.get("type")})
        return problem(
            request, status=422, code="validation.failed",
            zh="提交的数据未通过校验", en="The submitted data is invalid", errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        codes = {
            404: ("not_found", "资源不存在", "Not found"),
            405: ("request.method_not_allowed", "不支持该请求方法", "Method not allowed"),
            413: ("request.too_large", "请求内容过大", "Request too large"),
            400: ("request.bad", "请求无效", "Bad request"),
            401: ("auth.unauthenticated", "需要登录", "Authentication required"),
            403: ("auth.forbidden", "无权执行此操作", "Not permitted"),
        }
        code, zh, en = codes.get(status, ("request.error", "请求无法处理", "Request could not be processed"))
        if isinstance(exc, RequestRefused):
            code, zh, en = exc.code, exc.zh, exc.en
        return problem(request, status=status, code=code, zh=zh, en=en, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity conflict: %s", exc.orig)
        return problem(request, status=409, code="conflict.concurrent",
                       zh="数据已被其他请求修改，请重试", en="Conflicting concurrent change, retry")

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # a value the database cannot hold (e.g. a NUL in text on PostgreSQL): the client's input
        log.info("data error: %s", exc.orig)
        return problem(request, status=422, code="request.invalid_data",
                       zh="提交的数据含有无法保存的字符或数值", en="The submitted data cannot be stored")

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> JSONResponse:
        # asyncpg reports values PostgreSQL cannot hold (a NUL, text longer than its column: SQLSTATE class 22,
        # "data exception") as a generic DBAPI error: the client's input, not a server fault
        sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
        if sqlstate.startswith("22") or "invalid byte sequence" in str(exc.orig):
            return problem(request, status=422, code="request.invalid_data",
                           zh="提交的数据含有无法保存的字符或数值", en="The submitted data cannot be stored")
        if exc.connection_invalidated:
            # the server dropped the connection (a restart, an idle timeout): nothing was committed, the pool is
            # being replaced, and a retry goes through
            return _unavailable(request, exc)
        log.exception("database error")
        return problem(request, status=500, code="internal.error", zh="服务器内部错误", en="Internal server error")

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        return _unavailable(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _pool_busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # every connection of the pool stayed busy for DB_POOL_TIMEOUT_S: the instance is overloaded, not broken
        return _unavailable(request, exc)

    @app.exception_handler(RecursionError)
    async def _recursion(request: Request, exc: RecursionError) -> JSONResponse:
        return problem(request, status=400, code="request.too_deep",
                       zh="请求内容嵌套过深", en="Request body nested too deeply")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(request, status=500, code="internal.error",
                       zh="服务器内部错误", en="Internal server error")


class ProblemDetail(BaseModel):
    """RFC 9457 problem details as this API sends them."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "Problem details (RFC 9457) with a stable `code`",
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}},
    },
}
