"""Token code: algorithm pinned, none and key confusion refused, times and audience checked."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt as jose_jwt

from app.core.security import (
    TokenError,
    create_token,
    decode_token,
    hash_password,
    new_activation_code,
    normalize_activation_code,
    password_problems,
    verify_password,
)

SECRET = "unit-test-secret-0123456789abcdefghijklmnop"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
AUD, ISS = "cmty-renewal-api", "cmty-renewal"


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")


def _decode(token: str, now: datetime = NOW):
    return decode_token(token, secret=SECRET, audience=AUD, issuer=ISS, now=now)


def _good(**kw) -> str:
    return create_token(secret=SECRET, subject="u1", audience=kw.get("aud", AUD), issuer=ISS, now=kw.get("now", NOW),
                        ttl=timedelta(minutes=15), extra={"typ": "access"})


def test_round_trip() -> None:
    claims = _decode(_good())
    assert claims.sub == "u1" and claims.extra["typ"] == "access"


def test_alg_none_refused() -> None:
    payload = {"sub": "admin", "aud": AUD, "iss": ISS, "iat": int(NOW.timestamp()),
               "exp": int((NOW + timedelta(hours=1)).timestamp()), "typ": "access"}
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    with pytest.raises(TokenError) as e:
        _decode(token)
    assert e.value.reason == "algorithm"


def test_hs_rs_key_confusion_refused() -> None:
    """A token 'signed' HS256 with the RSA public key must not pass, nor an RS256 token."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    payload = {"sub": "admin", "aud": AUD, "iss": ISS, "iat": int(NOW.timestamp()),
               "exp": int((NOW + timedelta(hours=1)).timestamp()), "typ": "access"}
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    rs_token = jose_jwt.encode(payload, private_pem.decode(), algorithm="RS256")
    with pytest.raises(TokenError):
        _decode(rs_token)
    # the confusion attack: HS256 keyed with the public key, verified by a server holding only that key
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}"
    sig = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()).decode().rstrip("=")
    with pytest.raises(TokenError):
        _decode(f"{signing_input}.{sig}")


def test_expired_and_future_tokens_refused() -> None:
    token = _good()
    with pytest.raises(TokenError) as e:
        _decode(token, now=NOW + timedelta(minutes=16))
    assert e.value.reason == "expired"
    future = _good(now=NOW + timedelta(hours=2))
    with pytest.raises(TokenError) as e:
        _decode(future)
    assert e.value.reason == "not_yet_valid"


def test_wrong_audience_and_signature_refused() -> None:
    with pytest.raises(TokenError) as e:
        _decode(_good(aud="other-api"))
    assert e.value.reason == "audience"
    other = create_token(secret="another-secret-abcdefghijklmnopqrstuvwxyz", subject="u1", audience=AUD, issuer=ISS,
                         now=NOW, ttl=timedelta(minutes=5))
    with pytest.raises(TokenError):
        _decode(other)
    for junk in ("", "abc", "a.b.c", "x" * 5000):
        with pytest.raises(TokenError):
            _decode(junk)


def test_missing_claims_refused() -> None:
    payload = {"sub": "u1", "aud": AUD, "iss": ISS, "iat": int(NOW.timestamp())}  # no exp
    token = jose_jwt.encode(payload, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        _decode(token)


def test_a_verified_token_is_verified_once_and_still_checked_against_the_clock(monkeypatch) -> None:
    """The signature check of a token is kept (issue 17); expiry and not-before are checked on every use, and the
    kept answer is only for the same token, key, audience and issuer."""
    from app.core import security

    calls: list[str] = []
    real = security.jwt.decode

    def counting(token, *args, **kwargs):
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(security.jwt, "decode", counting)
    token = _good()
    assert _decode(token).sub == "u1"
    assert _decode(token, now=NOW + timedelta(minutes=5)).sub == "u1"
    assert calls == [token]
    with pytest.raises(TokenError) as e:  # kept, and still expires
        _decode(token, now=NOW + timedelta(minutes=16))
    assert e.value.reason == "expired"
    with pytest.raises(TokenError) as e:  # kept, and still not valid before its time
        _decode(token, now=NOW - timedelta(hours=1))
    assert e.value.reason == "not_yet_valid"
    with pytest.raises(TokenError) as e:  # another audience verifies afresh, and fails
        decode_token(token, secret=SECRET, audience="other-api", issuer=ISS, now=NOW)
    assert e.value.reason == "audience"
    with pytest.raises(TokenError):  # another key (a rotated secret) verifies afresh, and fails
        decode_token(token, secret="rotated-secret-abcdefghijklmnopqrstuvwxyz", audience=AUD, issuer=ISS, now=NOW)
    head, body, sig = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged["sub"] = "admin"
    with pytest.raises(TokenError):  # the same signature on other claims
        _decode(f"{head}.{_b64(forged)}.{sig}")
    assert calls.count(token) == 3 and len(calls) == 4


def test_passwords_argon2_and_policy() -> None:
    h = hash_password("correct horse 42")
    assert h.startswith("$argon2id$")
    assert verify_password("correct horse 42", h)
    assert not verify_password("correct horse 43", h)
    assert not verify_password("x", None)
    assert password_problems("short1")
    assert password_problems("onlyletterslong")
    assert not password_problems("letters-and-1234")


def test_activation_codes_random_and_normalised() -> None:
    codes = {new_activation_code() for _ in range(500)}
    assert len(codes) == 500
    c = next(iter(codes))
    assert normalize_activation_code(c.lower().replace("-", " ")) == c
