"""Request counters for ``/metrics``: requests by route and status class, and seconds spent per route.

A plain ASGI middleware (no per-request task group or body streams, unlike ``@app.middleware("http")``)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Tally = defaultdict[tuple[str, int | str], float]
"""(route name, status class) -> requests (ints); ("__seconds__", route name) -> seconds spent."""


def new_tally() -> Tally:
    return defaultdict(int)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, counter: Tally) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")  # set on this scope by the router
            name = getattr(route, "name", "unmatched")
            self.counter[(name, status // 100)] += 1
            self.counter[("__seconds__", name)] += time.perf_counter() - start
