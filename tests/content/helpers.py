"""Shared set-up of the content-security tests: WeChat users, an open notice, signed pushes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlmodel import select

from app.core.models import AuditEntry
from tests.factories import World, auth

API = "/api/v1"
PUSH_TOKEN = "push-token-for-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's console shows it
PUBLIC = "https://renewal.example.cn"


async def wechat_resident(client: httpx.AsyncClient, wechat, world: World, openid: str) -> tuple[dict, str]:
    """A resident who signed in through WeChat (wx.login code → binding token → activation): (headers, id)."""
    wechat.codes[f"login-{openid}"] = openid
    r = await client.post(f"{API}/auth/wechat", json={"code": f"login-{openid}"})
    assert r.status_code == 200, r.text
    household_id, code = next(iter(world.codes.items()))
    del world.codes[household_id]
    r = await client.post(f"{API}/auth/activate", json={"activation_code": code, "phone": "13700000000",
                                                        "name": "微信住户", "binding_token": r.json()["binding_token"]})
    assert r.status_code == 200, r.text
    headers = auth(r.json()["access_token"])
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert me["user"]["wechat_bound"] is True
    return headers, me["user"]["id"]


async def open_notice(client: httpx.AsyncClient, world: World) -> str:
    r = await client.post(f"{API}/communities/{world.community_id}/projects", headers=world.staff,
                          json={"title": "幸福里小区综合改造", "description": "屋面防水"})
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/projects/{r.json()['id']}/notices", headers=world.staff,
                          json={"kind": "plan", "title": "改造方案公示", "body": "方案全文", "start_date": "2026-11-23"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def audits(app, action: str) -> list[AuditEntry]:
    async with app.state.db.read_session() as s:
        return list((await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                  .order_by(AuditEntry.seq))).all())


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def media_event(trace_id: str, suggest: str, *, errcode: int = 0) -> dict:
    """WeChat's wxa_media_check event (JSON data format)."""
    return {"ToUserName": "gh_0123456789ab", "FromUserName": "openid-system", "CreateTime": 1764900000,
            "MsgType": "event", "Event": "wxa_media_check", "appid": "wx-demo-appid", "trace_id": trace_id,
            "version": 2, "errcode": errcode, "errmsg": "ok",
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": 100}],
            "result": {"suggest": suggest, "label": 100 if suggest == "pass" else 20002}}


async def push(client: httpx.AsyncClient, event: dict, *, token: str = PUSH_TOKEN, timestamp: str = "1764900000",
               nonce: str = "n0nce") -> httpx.Response:
    """A plain-mode push signed with ``token``."""
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
              "openid": "openid-system"}
    return await client.post(f"{API}/wechat/events", params=params, content=json.dumps(event).encode(),
                             headers={"Content-Type": "application/json"})


async def push_encrypted(client: httpx.AsyncClient, settings, event: dict, *, timestamp: str = "1764900001",
                         nonce: str = "n0nce2", tamper: bool = False) -> httpx.Response:
    """A safe-mode push: the event AES-encrypted with the EncodingAESKey, signed with msg_signature."""
    encrypted = wechat_encrypt(json.dumps(event).encode(), appid=settings.wechat_appid)
    signature = sign(PUSH_TOKEN, timestamp, nonce, encrypted)
    if tamper:
        signature = sign(PUSH_TOKEN, timestamp, nonce, encrypted + "x")
    params = {"signature": sign(PUSH_TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
              "encrypt_type": "aes", "msg_signature": signature}
    body = {"ToUserName": "gh_0123456789ab", "Encrypt": encrypted}
    return await client.post(f"{API}/wechat/events", params=params, content=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})


def wechat_encrypt(message: bytes, *, appid: str) -> str:
    """What WeChat's safe mode sends, written from its documentation (not from the app's code): base64 of
    AES-256-CBC (key = base64(EncodingAESKey + "="), iv = the key's first 16 bytes) of 16 random bytes, the
    message length (4 bytes, network order), the message and the appid, PKCS#7-padded to 32 bytes."""
    key = base64.b64decode(AES_KEY + "=")
    plain = os.urandom(16) + len(message).to_bytes(4, "big") + message + appid.encode()
    n = 32 - len(plain) % 32
    plain += bytes([n]) * n
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def local_path(url: str) -> str:
    """The signed media URL WeChat was given, as a path and query on this app."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
    assert set(parse_qs(parts.query)) == {"expires", "sig"}
    return f"{parts.path}?{parts.query}"
