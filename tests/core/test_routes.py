"""The hot routes are tried first (issue 17), and that changes no request's route."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match

from app.api import HOT_ROUTES, hot_routes_first, may_share_a_path


def test_paths_that_may_share_a_request() -> None:
    assert may_share_a_path("/api/v1/motions/{motion_id}/ballot", "/api/v1/motions/{id}/ballot")
    assert may_share_a_path("/api/v1/motions/{motion_id}/ballot", "/api/v1/motions/closed/{what}")
    assert may_share_a_path("/api/v1/me", "/api/v1/{anything}")
    assert may_share_a_path("/files/{rest:path}", "/api/v1/me")
    assert may_share_a_path("/api/v1/m{x}", "/api/v1/me")
    assert not may_share_a_path("/api/v1/motions/{motion_id}/ballot", "/api/v1/motions/{motion_id}/ballots")
    assert not may_share_a_path("/api/v1/motions/{motion_id}/ballot", "/api/v1/motions/{motion_id}")
    assert not may_share_a_path("/api/v1/me", "/api/v1/me/households")


def test_a_route_that_may_share_a_path_is_not_overtaken() -> None:
    class R(APIRoute):
        def __init__(self, path: str, method: str) -> None:  # only what hot_routes_first reads
            self.path, self.methods, self.name = path, {method}, path

    first = R("/api/v1/{section}/{key}/{what}", "GET")
    other = R("/api/v1/other", "GET")
    ballot = R("/api/v1/motions/{motion_id}/ballot", "PUT")
    me = R("/api/v1/me", "GET")
    routes = [first, other, ballot, me]
    hot_routes_first(routes)  # the ballot's paths are also the first route's; /me's are no other's
    assert routes == [me, first, other, ballot]


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]*:path\}", "a/b", re.sub(r"\{[^}:]*\}", "x1", path))


def _route_for(routes: list, method: str, path: str):
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    partial = None
    for r in routes:
        match, _ = r.matches(scope)
        if match == Match.FULL:
            return r
        if match == Match.PARTIAL and partial is None:
            partial = r
    return partial


def test_hot_routes_come_first_and_every_request_keeps_its_route(app) -> None:
    routes, declared = app.router.routes, app.state.declared_routes
    first = [(m, r.path) for r in routes[:len(HOT_ROUTES)] for m in r.methods]
    assert first == list(HOT_ROUTES), "a route that may share a hot route's path keeps it from moving: " \
        "see app.api.hot_routes_first"
    assert sorted(map(id, routes)) == sorted(map(id, declared)) and len(routes) == len(declared)
    checked = 0
    for r in declared:
        if not isinstance(getattr(r, "path", None), str):
            continue
        for method in {*(getattr(r, "methods", None) or {"GET"}), "DELETE", "PATCH", "OPTIONS"}:
            for path in (_sample(r.path), _sample(r.path) + "/"):
                assert _route_for(routes, method, path) is _route_for(declared, method, path), (method, path)
                checked += 1
    assert checked > 4 * len(declared)


def test_the_documents_keep_the_declared_order(app) -> None:
    paths = list(app.openapi()["paths"])
    declared = [r.path for r in app.state.declared_routes
                if isinstance(r, APIRoute) and r.include_in_schema]
    assert paths == list(dict.fromkeys(declared))
    assert paths.index("/api/v1/me") > paths.index("/api/v1/auth/token")
