"""/readyz checks what the instance depends on: the database, Redis when REDIS_URL is set, and the media
storage (the object store's bucket with the instance's key, or a writable MEDIA_DIR)."""

from __future__ import annotations

import os

import httpx
import pytest

from app.main import close_app, create_app
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY


async def ready(settings, clock) -> httpx.Response:
    app = create_app(settings, clock=clock, http=httpx.AsyncClient())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await c.get("/readyz")
    finally:
        await close_app(app)


def on_s3(settings, seaweedfs, bucket: str, *, secret: str = SECRET_KEY):
    return settings.model_copy(update={
        "media_storage": "s3", "s3_endpoint_url": seaweedfs.endpoint, "s3_bucket": bucket,
        "s3_access_key_id": ACCESS_KEY, "s3_secret_access_key": secret, "s3_region": REGION})


async def test_ready_on_the_defaults(settings, clock) -> None:
    r = await ready(settings, clock)
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "storage": "ok"} and r.json()["storage"] == "local"


async def test_local_storage_that_cannot_be_written_is_not_ready(settings, clock, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    r = await ready(settings.model_copy(update={"media_dir": blocker / "media"}), clock)
    assert r.status_code == 503 and r.json()["code"] == "service.unavailable"
    assert r.json()["checks"]["database"] == "ok" and r.json()["checks"]["storage"] != "ok"


async def test_object_store_checked(settings, clock, seaweedfs) -> None:
    bucket = seaweedfs.create_bucket()
    r = await ready(on_s3(settings, seaweedfs, bucket), clock)
    assert r.status_code == 200 and r.json()["storage"] == "s3" and r.json()["checks"]["storage"] == "ok"
    for bad in (on_s3(settings, seaweedfs, bucket, secret="wrong-secret"),
                on_s3(settings, seaweedfs, "no-such-bucket-anywhere")):
        r = await ready(bad, clock)
        assert r.status_code == 503 and r.json()["checks"]["storage"] == "ClientError", r.json()


async def test_redis_checked_when_configured(settings, clock) -> None:
    r = await ready(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), clock)
    assert r.status_code == 503 and r.json()["checks"]["redis"] != "ok" and r.json()["checks"]["database"] == "ok"
    if not os.environ.get("REDIS_URL"):
        pytest.skip("the reachable case needs REDIS_URL")
    r = await ready(settings.model_copy(update={"redis_url": os.environ["REDIS_URL"]}), clock)
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
