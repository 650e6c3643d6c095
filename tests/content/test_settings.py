"""The content-security settings refuse what WeChat's console would never give."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def test_aes_key_must_be_wechats_43_characters() -> None:
    with pytest.raises(ValidationError, match="43-character"):
        Settings(wechat_push_aes_key="too-short")
    assert Settings(wechat_push_aes_key=" " + "a" * 43 + " ").wechat_push_aes_key == "a" * 43
    assert Settings().wechat_content_check is True and Settings().public_base_url == ""
    with pytest.raises(ValidationError):
        Settings(wechat_media_url_seconds=10)
