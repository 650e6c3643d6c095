"""Command line: serve, worker, migrate, create-admin, demo, openapi, audit-verify, evidence-verify."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str | None = None) -> None:
    from alembic.config import Config

    from alembic import command
    from app.core.config import get_settings

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", database_url or get_settings().database_url)
    cfg.attributes["skip_logging"] = True
    if database_url:
        cfg.attributes["explicit_url"] = True
    command.upgrade(cfg, "head")


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

DEV_SECRET_WARNING = """\
********************************************************************************************
WARNING: SECRET_KEY is the public development key. Anyone who has read this project's source
can sign access tokens this server accepts (any user, any role). Set SECRET_KEY to a random
value of at least 32 characters, e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"
********************************************************************************************"""


def check_secret(secret_is_default: bool, host: str) -> int | None:
    """Warn on stderr when serving with the development key; refuse (exit code 2) unless bound to loopback."""
    if not secret_is_default:
        return None
    print(DEV_SECRET_WARNING, file=sys.stderr, flush=True)
    if host not in LOOPBACK_HOSTS:
        print(f"error: refusing to serve on {host!r} with the development SECRET_KEY; set SECRET_KEY, or bind "
              "to 127.0.0.1, ::1 or localhost", file=sys.stderr)
        return 2
    return None


_WORKER_LOCK: list[IO[bytes]] = []  # held open for the life of the process


def sqlite_worker_lock(database_url: str) -> str | None:
    """On SQLite, take the one periodic worker's lock (``<database file>.worker.lock``, flock): a second
    worker on the same file is refused (its writes would only queue behind the first one's). None when taken
    (or not SQLite); else why not."""
    if not database_url.startswith("sqlite"):
        return None
    path = database_url.split("///", 1)[1] if "///" in database_url else ""
    if not path or path == ":memory:":
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    f = open(f"{path}.worker.lock", "ab")  # noqa: SIM115 - kept open (and locked) until the process ends
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return (f"another worker already runs on {path} (SQLite: one worker; start the app instance with "
                "`serve --no-worker`)")
    _WORKER_LOCK.append(f)
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.core.config import get_settings

    if args.no_worker:
        os.environ["RUN_WORKER"] = "false"  # read by create_app in this process and in uvicorn's workers
        get_settings.cache_clear()
    settings = get_settings()
    refused = check_secret(settings.uses_dev_secret, args.host)
    if refused is not None:
        return refused
    if settings.run_worker:
        busy = sqlite_worker_lock(settings.database_url)
        if busy is not None:
            print(f"error: {busy}", file=sys.stderr)
            return 2
    if not args.no_migrate:
        migrate()
    workers = args.workers
    if settings.is_sqlite and workers != 1:
        print("SQLite is served by one worker (one writer connection); ignoring --workers", file=sys.stderr)
        workers = 1
    # X-Forwarded-For is believed only from the proxies named in FORWARDED_ALLOW_IPS (none by default: the
    # socket peer is the client); passed explicitly so uvicorn's own default (trust loopback) never applies
    trusted = settings.forwarded_allow_ips
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port, workers=workers,
                log_level=args.log_level, proxy_headers=bool(trusted), forwarded_allow_ips=trusted or [])
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from app.cli_tasks import run_worker
    from app.core.config import get_settings

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    busy = sqlite_worker_lock(settings.database_url)
    if busy is not None:
        print(f"error: {busy}", file=sys.stderr)
        return 2
    if not args.no_migrate:
        migrate()
    return asyncio.run(run_worker(once=args.once))


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate()
    print("database migrated to head")
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from app.cli_tasks import create_admin

    migrate()
    try:
        user_id = asyncio.run(create_admin(args.username, args.password, args.name or args.username,
                                           args.jurisdiction))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    where = f" of jurisdiction {args.jurisdiction}" if args.jurisdiction else ""
    print(f"admin {args.username}{where} ready (user id {user_id})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.cli_tasks import build_demo

    migrate()
    result = asyncio.run(build_demo())
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    from app.cli_tasks import openapi_json

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(openapi_json(), encoding="utf-8")
    print(f"wrote {out}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from app.cli_tasks import verify_audit

    reports = asyncio.run(verify_audit(args.chain))
    bad = [r for r in reports if not r.ok]
    for r in reports:
        if r.ok:
            print(f"ok      {r.chain}: {r.entries} entries")
        else:
            print(f"BROKEN  {r.chain}: first broken entry seq={r.first_broken_seq} id={r.first_broken_id} "
                  f"({r.problem})")
    return 1 if bad else 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    from app.cli_tasks import evidence_verify

    try:
        ok, message = evidence_verify(args.file)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(message if ok else f"MISMATCH {message}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="migrate, then serve")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--log-level", default="info")
    s.add_argument("--no-migrate", action="store_true")
    s.add_argument("--no-worker", action="store_true",
                   help="no periodic work in this instance (motion closing, reminders, outbox): `worker` does it")
    s.set_defaults(fn=cmd_serve)
    w = sub.add_parser("worker", help="migrate, then run the periodic work (motion closing, reminders, outbox)")
    w.add_argument("--once", action="store_true", help="one round, then exit (1 if a step failed)")
    w.add_argument("--log-level", default="info")
    w.add_argument("--no-migrate", action="store_true")
    w.set_defaults(fn=cmd_worker)
    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(fn=cmd_migrate)
    a = sub.add_parser("create-admin", help="create (or reset) a global admin, or the admin of one jurisdiction")
    a.add_argument("--username", required=True)
    a.add_argument("--password", required=True)
    a.add_argument("--name")
    a.add_argument("--jurisdiction", metavar="ID",
                   help="admin of this jurisdiction only (its street office) instead of a global admin")
    a.set_defaults(fn=cmd_create_admin)
    sub.add_parser("demo", help="a demo community with households, codes, a survey, a motion, a notice").set_defaults(
        fn=cmd_demo)
    o = sub.add_parser("openapi", help="write the OpenAPI document")
    o.add_argument("--output", default=str(ROOT / "openapi" / "openapi.json"))
    o.set_defaults(fn=cmd_openapi)
    v = sub.add_parser("audit-verify", help="verify the hash chains of the audit log")
    v.add_argument("--chain")
    v.set_defaults(fn=cmd_audit_verify)
    e = sub.add_parser("evidence-verify",
                       help="check a motion's or a questionnaire's evidence pack (no database needed)")
    e.add_argument("file", help="the evidence.zip")
    e.set_defaults(fn=cmd_evidence_verify)
    args = p.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
