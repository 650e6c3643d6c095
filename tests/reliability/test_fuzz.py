"""API fuzzing: schemathesis generates requests from the committed OpenAPI document and sends them to a
real server process (SQLite or PostgreSQL) as an authenticated staff member; no response may be a 5xx and
every response must match the documented status codes, content types and schemas."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.factories import populate_world
from tests.reliability.conftest import ADMIN_PASS, ADMIN_USER

ROOT = Path(__file__).resolve().parents[2]
# WeChat login needs WeChat's servers, which a server process here cannot reach (a 503 by design);
# it is covered with a fake WeChat in tests/auth.
schema = schemathesis.openapi.from_path(str(ROOT / "openapi" / "openapi.json")).exclude(operation_id="auth_wechat")
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
# Schema-valid data may still be refused by the domain (a start date in the past, a wrong activation code),
# so "positive data acceptance" is not asserted; nor is "negative data rejection", because pydantic's lax
# mode deliberately accepts 0/1 for booleans and numeric strings in query parameters. Everything else is.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance, unsupported_method]


@pytest.fixture(scope="module")
def fuzz_env(shared_server):
    async def setup():
        async with httpx.AsyncClient(base_url=shared_server.base_url, timeout=30) as c:
            return await populate_world(c, ADMIN_USER, ADMIN_PASS, residents=2)

    world = asyncio.run(setup())
    return shared_server.base_url, world


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors_and_schema_conformance(case, fuzz_env) -> None:
    base_url, world = fuzz_env
    # point ids at real rows half of the time so bodies reach the services, not just the 404 path
    for name, value in (("community_id", world.community_id), ("jurisdiction_id", world.jurisdiction_id)):
        if case.path_parameters and name in case.path_parameters and hash(str(case.body)) % 2 == 0:
            case.path_parameters[name] = value
    token = world.admin_token if case.path.startswith("/api/v1/jurisdictions") else world.staff_token
    case.call_and_validate(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                           checks=CHECKS)
