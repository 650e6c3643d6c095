"""Content-security tests: a push token, an EncodingAESKey and a public base URL configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import Settings
from tests.conftest import TEST_SECRET
from tests.content.helpers import AES_KEY, PUBLIC, PUSH_TOKEN


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test", database_url=database_url, secret_key=TEST_SECRET, media_dir=tmp_path / "media",
        wechat_api_base="https://wechat.test", rate_limit_enabled=False, redis_url=None,
        wechat_push_token=PUSH_TOKEN, wechat_push_aes_key=AES_KEY, public_base_url=PUBLIC,
    )
