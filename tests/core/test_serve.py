"""`python -m app serve`: the development SECRET_KEY only on loopback (with a loud warning); trusted proxies."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.__main__ import check_secret
from app.core.config import Settings
from tests.reliability.conftest import drop_database, process_database
from tests.serverproc import ROOT, ServerProcess, free_port

WARNING = "WARNING: SECRET_KEY is the public development key"


def test_check_secret(capsys) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert check_secret(True, host) is None
        assert WARNING in capsys.readouterr().err
    for host in ("0.0.0.0", "::", "192.168.1.20", "127.0.0.1.example.com"):
        assert check_secret(True, host) == 2
        err = capsys.readouterr().err
        assert WARNING in err and f"refusing to serve on {host!r}" in err
    assert check_secret(False, "0.0.0.0") is None
    assert capsys.readouterr().err == ""


def test_default_key_refused_on_all_interfaces(tmp_path) -> None:
    proc = ServerProcess(f"sqlite+aiosqlite:///{tmp_path / 'never.db'}", tmp_path)
    proc.env.pop("SECRET_KEY")
    proc.env["ENVIRONMENT"] = "development"
    r = subprocess.run([sys.executable, "-m", "app", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                       cwd=ROOT, env=proc.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert WARNING in r.stderr and "refusing to serve on '0.0.0.0'" in r.stderr
    assert not (tmp_path / "never.db").exists()  # refused before migrating anything


def test_default_key_on_loopback_serves_with_a_warning(tmp_path) -> None:
    url, name = process_database(tmp_path)
    proc = ServerProcess(url, tmp_path)
    proc.env.pop("SECRET_KEY")
    proc.env["ENVIRONMENT"] = "development"
    try:
        proc.start()  # answers /readyz
    finally:
        proc.stop()
        drop_database(name)
    assert WARNING in proc.log.read_text()


def test_forwarded_allow_ips_names_addresses_or_networks(monkeypatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Settings(forwarded_allow_ips=" 10.0.0.2, 127.0.0.1 ,").forwarded_allow_ips == "10.0.0.2,127.0.0.1"
    assert Settings(forwarded_allow_ips="172.16.0.0/12,::1").forwarded_allow_ips == "172.16.0.0/12,::1"
    assert Settings().forwarded_allow_ips == ""  # default: trust no proxy
    for bad in ("nginx", "*", "10.0.0.300"):  # uvicorn would take these as host names that never match
        with pytest.raises(ValidationError, match="FORWARDED_ALLOW_IPS"):
            Settings(forwarded_allow_ips=bad)
