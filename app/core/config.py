"""Settings from the environment (pydantic-settings)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"

# the CJK font of the printable documents (app.core.printing): where scripts/fetch_font.sh puts it in the
# project, and where Debian's fonts-droid-fallback package installs it
FONT_FILE = "DroidSansFallbackFull.ttf"
PROJECT_FONT = Path(__file__).resolve().parents[2] / "var" / "fonts" / FONT_FILE
SYSTEM_FONT = Path("/usr/share/fonts/truetype/droid") / FONT_FILE


def default_font_path() -> Path:
    """The project's copy; the system's when only that exists."""
    return SYSTEM_FONT if not PROJECT_FONT.is_file() and SYSTEM_FONT.is_file() else PROJECT_FONT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: str = Field(default="development", description="development | test | production")
    database_url: str = "sqlite+aiosqlite:///./data/app.db"
    sqlite_busy_timeout_ms: int = 5000
    db_pool_size: int = 20
    db_pool_timeout_s: float = 30.0

    secret_key: str = DEV_SECRET
    jwt_issuer: str = "cmty-renewal"
    jwt_audience: str = "cmty-renewal-api"
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    binding_token_minutes: int = 10
    activation_code_days: int = 30
    # a household invitation (family, tenants) lives this long: a weekend plus a day; it is short and typed by
    # hand, so it must not live long (README "Invitations")
    invite_hours: int = 72
    # at most this many open (unused, unrevoked, unexpired) invitations per household
    invite_max_open: int = 10
    # the mini-program page that joins a household (share card path, mini-program code page)
    wechat_join_page: str = "pages/join/index"

    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_appid: str = "wx-demo-appid"
    wechat_secret: str = "wx-demo-secret"
    wechat_timeout_s: float = 5.0
    wechat_template_id: str = "reminder-template"

    redis_url: str | None = None
    rate_limit_enabled: bool = True
    # reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated); empty: none,
    # the socket peer is the client address that rate limits count by
    forwarded_allow_ips: str = ""
    rate_limit_prefix: str = "rl:"

    media_dir: Path = Path("./data/media")  # local storage; with s3, only the scratch directory of uploads
    # where blobs live: local (MEDIA_DIR, one instance) | s3 (an S3-API object store shared by every instance)
    media_storage: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None  # e.g. https://oss-cn-qingdao.aliyuncs.com, http://seaweedfs:8333; None: AWS
    s3_bucket: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = "us-east-1"
    s3_path_style: bool = True  # <endpoint>/<bucket>/<key>; false: <bucket>.<endpoint>/<key> (Aliyun OSS needs false)
    # stream: the app sends the file after the permission check; presigned: a 307 to a short-lived URL of the store
    media_redirect: Literal["stream", "presigned"] = "stream"
    media_presign_seconds: int = Field(default=300, ge=10, le=3600)
    photo_max_bytes: int = 10 * 1024 * 1024
    photo_max_pixels: int = 40_000_000
    attachment_max_bytes: int = 20 * 1024 * 1024
    import_max_bytes: int = 5 * 1024 * 1024
    import_max_rows: int = 20_000
    import_parse_seconds: float = 5.0  # time budget for parsing one import file (in a worker thread)
    request_max_bytes: int = 1 * 1024 * 1024

    catalog_dir: Path | None = None
    outbox_sender: str = "log"  # log | wechat
    outbox_interval_s: float = 10.0
    # the periodic worker (motion closing, reminders, outbox) inside the app process; `serve --no-worker` sets
    # it false for instances whose work is done by `python -m app worker`
    run_worker: bool = True
    outbox_max_attempts: int = 5
    staff_see_choices: bool = False

    # printable documents (PDF): the CJK TrueType font they are set in (missing: 503 documents.font_missing),
    # and the mini-program pages their QR codes open (<path>?code=<activation code>, <path>?id=<notice id>)
    pdf_font_path: Path = Field(default_factory=default_font_path)
    miniprogram_activate_path: str = Field(default="pages/activate/index", min_length=1, max_length=200)
    miniprogram_notice_path: str = Field(default="pages/notice/index", min_length=1, max_length=200)

    # WeChat content security (app/core/content.py): what WeChat users post for others to read is checked
    # (msgSecCheck) and their photos submitted (mediaCheckAsync); false for deployments outside WeChat
    wechat_content_check: bool = True
    # the Token of the message push configured in WeChat's console (POST /api/v1/wechat/events); empty: every
    # push is refused
    wechat_push_token: str = ""
    # the EncodingAESKey (43 characters) for the push's safe mode (encrypted); empty: plain mode only
    wechat_push_aes_key: str = ""
    # where WeChat fetches a photo it checks: https://<this>/api/v1/wechat/media/… (signed, expiring); empty:
    # photos cannot be submitted and stay pending until staff release them
    public_base_url: str = ""
    wechat_media_url_seconds: int = Field(default=3600, ge=60, le=86400)

    @field_validator("wechat_push_aes_key")
    @classmethod
    def _aes_key(cls, value: str) -> str:
        value = value.strip()
        if value and len(value) != 43:
            raise ValueError("WECHAT_PUSH_AES_KEY must be WeChat's 43-character EncodingAESKey")
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError("SECRET_KEY must be set (>= 32 chars) in production")
        return self

    @model_validator(mode="after")
    def _s3_complete(self) -> Settings:
        if self.media_storage == "s3":
            missing = [name for name, value in (("S3_BUCKET", self.s3_bucket), ("S3_ACCESS_KEY_ID", self.s3_access_key_id),
                                                ("S3_SECRET_ACCESS_KEY", self.s3_secret_access_key)) if not value]
            if missing:
                raise ValueError(f"MEDIA_STORAGE=s3 needs {', '.join(missing)}")
        elif self.media_redirect == "presigned":
            raise ValueError("MEDIA_REDIRECT=presigned needs MEDIA_STORAGE=s3")
        return self

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """Reject what uvicorn would silently treat as a literal host name (and so never match)."""
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"FORWARDED_ALLOW_IPS: {item!r} is not an IP address or network") from exc
        return ",".join(items)

    @property
    def uses_dev_secret(self) -> bool:
        return self.secret_key == DEV_SECRET

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
