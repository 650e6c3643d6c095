"""The command line as an operator uses it: create-admin, demo, audit-verify, on a fresh database."""

from __future__ import annotations

import json

from tests.reliability.conftest import drop_database, process_database
from tests.serverproc import ServerProcess


def test_create_admin_demo_and_audit_verify(tmp_path) -> None:
    url, name = process_database(tmp_path)
    proc = ServerProcess(url, tmp_path)
    try:
        r = proc.cli("create-admin", "--username", "ops", "--password", "short")
        assert r.returncode == 2 and "password" in r.stderr
        r = proc.cli("create-admin", "--username", "ops", "--password", "ops-password-2026!")
        assert r.returncode == 0, r.stderr
        r = proc.cli("demo")
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert len(out["activation_codes"]) == 36
        for key in ("community_id", "project_id", "willingness_questionnaire_id", "motion_id", "plan_id"):
            assert out[key]
        assert out["notice"]["end_date"]
        r = proc.cli("audit-verify")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "ok" in r.stdout and "BROKEN" not in r.stdout
    finally:
        drop_database(name)
