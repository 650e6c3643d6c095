"""Revision 0009 fills the new report columns of existing reports from their events."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _pg_base_url

pytestmark = pytest.mark.skipif(_pg_base_url() is not None,
                                reason="SQLite-only: rows are written around foreign keys with a plain connection")


def _upgrade(url: str, revision: str) -> None:
    from alembic.config import Config

    from alembic import command
    from app.__main__ import ROOT

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["skip_logging"] = True
    cfg.attributes["explicit_url"] = True
    command.upgrade(cfg, revision)


def test_existing_reports_filled_from_their_events(tmp_path) -> None:
    path = tmp_path / "old.db"
    _upgrade(f"sqlite+aiosqlite:///{path}", "0008")
    engine = create_engine(f"sqlite:///{path}")
    report = ("INSERT INTO quality_report (id, project_id, community_id, title, severity, description, status, "
              "filed_by, filed_as, version, created_at, updated_at, due_date) VALUES (:id, 'p', 'c', 't', 'major', "
              "'d', :status, 'u', 'supervisor', 1, '2026-09-28 02:00:00.000000', '2026-09-28 02:00:00.000000', :due)")
    event = ("INSERT INTO quality_report_event (id, report_id, action, to_status, at, data) "
             "VALUES (:id, :rid, :action, 'x', :at, '{}')")
    with engine.begin() as c:
        c.execute(text(report), {"id": "r1", "status": "rectifying", "due": "2026-10-13"})
        c.execute(text(report), {"id": "r2", "status": "submitted", "due": None})
        for i, (action, at) in enumerate([("assign", "2026-09-28 03:00:00.000000"),
                                          ("assign", "2026-09-29 03:00:00.000000"),
                                          ("rectify", "2026-09-30 03:00:00.000000"),
                                          ("reopen", "2026-10-08 03:00:00.000000"),
                                          ("rectify", "2026-10-09 03:00:00.000000"),
                                          ("reopen", "2026-10-10 03:00:00.000000")]):
            c.execute(text(event), {"id": f"e{i}", "rid": "r1", "action": action, "at": at})
    engine.dispose()
    _upgrade(f"sqlite+aiosqlite:///{path}", "0009")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, assigned_at, rectified_at, reopen_count, deadline_seq, flagged_at, "
                              "due_date, deadline_working_days FROM quality_report ORDER BY id")).all()
        alerts = c.execute(text("SELECT count(*) FROM supervision_alert")).scalar_one()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("r1", "2026-09-28 03:00:00.000000", "2026-10-09 03:00:00.000000", 2, 0, None, "2026-10-13", None),
        ("r2", None, None, 0, 0, None, None, None)]
    assert alerts == 0
