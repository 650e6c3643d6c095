"""WeChat's message push (消息推送) to ``/api/v1/wechat/events``: signatures, the safe (encrypted) mode, events.

* The URL check (GET): ``signature = sha1(sorted(token, timestamp, nonce))``; the answer is ``echostr``.
* Plain mode (POST, JSON): the same ``signature`` in the query; the body is the event.
* Safe mode (POST, JSON, ``encrypt_type=aes``): ``msg_signature = sha1(sorted(token, timestamp, nonce,
  Encrypt))`` and the body ``{"ToUserName", "Encrypt"}``: ``Encrypt`` is base64 of AES-256-CBC (key =
  base64(EncodingAESKey + "="), iv = its first 16 bytes, PKCS#7 padding to 32 bytes) of 16 random bytes, the
  message's length (4 bytes, big-endian), the message (the event's JSON) and the appid.

The token is ``WECHAT_PUSH_TOKEN``; without one every push is refused. A wrong signature is 401
``wechat.bad_signature``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.core.config import Settings
from app.core.errors import AppError

BLOCK = 32


class BadSignature(AppError):
    status = 401
    code = "wechat.bad_signature"
    zh = "推送签名无效"
    en = "The push's signature does not verify"


class BadPush(AppError):
    status = 400
    code = "wechat.bad_push"
    zh = "推送内容无法解析"
    en = "The push could not be read"


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _token(settings: Settings) -> str:
    token = settings.wechat_push_token
    if not token:
        raise BadSignature(en="No push token is configured (WECHAT_PUSH_TOKEN)")
    return token


def verify_signature(settings: Settings, *, signature: str | None, timestamp: str | None,
                     nonce: str | None) -> None:
    """The plain signature (the URL check and plain-mode pushes); :class:`BadSignature` otherwise."""
    token = _token(settings)
    if not signature or timestamp is None or nonce is None:
        raise BadSignature()
    if not hmac.compare_digest(signature.lower().encode(), sha1_signature(token, timestamp, nonce).encode()):
        raise BadSignature()


def _aes_key(settings: Settings) -> bytes:
    if not settings.wechat_push_aes_key:
        raise BadPush(en="An encrypted push arrived but no WECHAT_PUSH_AES_KEY is configured")
    return base64.b64decode(settings.wechat_push_aes_key + "=")


def decrypt(settings: Settings, *, encrypted: str, msg_signature: str | None, timestamp: str | None,
            nonce: str | None) -> bytes:
    """The message of a safe-mode push after its ``msg_signature`` is verified."""
    token = _token(settings)
    if not msg_signature or timestamp is None or nonce is None:
        raise BadSignature()
    expected = sha1_signature(token, timestamp, nonce, encrypted)
    if not hmac.compare_digest(msg_signature.lower().encode(), expected.encode()):
        raise BadSignature()
    key = _aes_key(settings)
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadPush() from exc
    if not raw or len(raw) % 16:
        raise BadPush()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(raw) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK or len(plain) < 20 + pad:
        raise BadPush()
    plain = plain[:-pad]
    (length,) = struct.unpack(">I", plain[16:20])
    message, appid = plain[20:20 + length], plain[20 + length:]
    if len(message) != length or appid.decode(errors="replace") != settings.wechat_appid:
        raise BadPush(en="The push's appid is not this mini-program's")
    return message


@dataclass(frozen=True)
class MediaCheckEvent:
    """``wxa_media_check``: the verdict of an earlier mediaCheckAsync (``suggest`` pass | review | risky)."""

    trace_id: str
    suggest: str
    label: int | None
    errcode: int


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPush() from exc
    if not isinstance(parsed, dict):
        raise BadPush()
    return parsed


def read_push(settings: Settings, *, body: bytes, signature: str | None, msg_signature: str | None,
              timestamp: str | None, nonce: str | None, encrypt_type: str | None) -> dict[str, Any]:
    """The event of a push whose signature verifies (plain or safe mode)."""
    if encrypt_type == "aes":
        outer = _json(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise BadPush()
        return _json(decrypt(settings, encrypted=encrypted, msg_signature=msg_signature, timestamp=timestamp,
                             nonce=nonce))
    verify_signature(settings, signature=signature, timestamp=timestamp, nonce=nonce)
    return _json(body)


def media_check_event(event: dict[str, Any]) -> MediaCheckEvent | None:
    """The ``wxa_media_check`` event's verdict, or None for any other event (or one without a verdict)."""
    if event.get("Event") != "wxa_media_check":
        return None
    trace = event.get("trace_id")
    result = event.get("result")
    suggest = result.get("suggest") if isinstance(result, dict) else None
    if not isinstance(trace, str) or not trace or not isinstance(suggest, str):
        return None
    assert isinstance(result, dict)
    label = result.get("label")
    errcode = event.get("errcode", 0)
    return MediaCheckEvent(trace_id=trace[:128], suggest=suggest,
                           label=label if isinstance(label, int) and not isinstance(label, bool) else None,
                           errcode=errcode if isinstance(errcode, int) else 0)
