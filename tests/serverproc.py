"""Run the service as a real process (``python -m app serve``) for crash and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    def __init__(self, database_url: str, workdir: Path, extra_env: dict[str, str] | None = None,
                 serve_args: tuple[str, ...] = ()) -> None:
        self.database_url = database_url
        self.serve_args = serve_args  # e.g. ("--no-worker", "--no-migrate")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = os.environ.copy() | {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "process-test-secret-0123456789abcdefghijklmnopqrstuvwxyz",
            "MEDIA_DIR": str(workdir / "media"),
            "RATE_LIMIT_ENABLED": "false",
            "ENVIRONMENT": "test",
        } | (extra_env or {})
        self.env.pop("REDIS_URL", None)
        self.log = workdir / f"server-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=120)

    def start(self, timeout: float = 60) -> None:
        logf = open(self.log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(self.port), "--log-level", "warning",
             *self.serve_args],
            cwd=ROOT, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing — what a power cut does to the process."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
