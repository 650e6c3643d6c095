"""All token and password code lives here: the only module importing jose and passlib.

* Passwords: argon2 through the passlib API (libpass fork).
* Access tokens: JWT HS256 with the algorithm list always pinned; exp, iat, sub, aud and iss required.
* Opaque secrets (refresh tokens, activation and invitation codes, receipts): random, stored only as keyed hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt
from passlib.context import CryptContext

ALGORITHM = "HS256"
PASSWORD_MIN = 10
PASSWORD_MAX = 128

# OWASP minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
_pwd = CryptContext(
    schemes=["argon2"], deprecated="auto", argon2__memory_cost=19456, argon2__rounds=2, argon2__parallelism=1
)

# Crockford-style alphabet without look-alikes (no I, L, O, U, 0, 1) for printed activation codes.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


class TokenError(Exception):
    """A token could not be accepted; ``reason`` is a stable word for the error code."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def hash_password(password: str) -> str:
    return _pwd.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed:
        # spend comparable time so missing users are not distinguishable by timing
        _pwd.dummy_verify()
        return False
    try:
        return _pwd.verify(password, hashed)
    except (ValueError, TypeError):
        return False


def password_problems(password: str) -> list[str]:
    """Minimum policy: length, and not all one character class."""
    problems: list[str] = []
    if len(password) < PASSWORD_MIN:
        problems.append(f"at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        problems.append(f"at most {PASSWORD_MAX} characters")
    classes = sum(
        [any(c.isdigit() for c in password), any(c.isalpha() for c in password),
         any(not c.isalnum() for c in password)]
    )
    if classes < 2:
        problems.append("mix letters with digits or symbols")
    return problems


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    aud: str
    jti: str | None
    exp: datetime
    extra: dict[str, Any]


def create_token(
    *, secret: str, subject: str, audience: str, issuer: str, now: datetime, ttl: timedelta,
    extra: dict[str, Any] | None = None,
) -> str:
    claims: dict[str, Any] = {
        "sub": subject,
        "aud": audience,
        "iss": issuer,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_hex(8),
    }
    if extra:
        claims.update(extra)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# What a token's signature, header, audience and issuer say does not change: the same token under the same key
# and expectations verifies the same way every time. An access token comes with every request of its sign-in
# for hours, so its verified claims are kept, per process, by everything the verification depended on (issue
# 17); only tokens that passed are kept. The checks against the clock (exp, iat, nbf) run on every use.
# Bounded: emptied when full.
_VERIFIED: dict[tuple[str, str, str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


def _verified_claims(token: str, *, secret: str, audience: str, issuer: str) -> dict[str, Any]:
    """The claims of a token whose header, HS256 signature, audience and issuer are right (TokenError if not)."""
    key = (token, secret, audience, issuer)
    claims = _VERIFIED.get(key)
    if claims is not None:
        return claims
    try:
        header = jwt.get_unverified_header(token)
    except JWTError as exc:
        raise TokenError("malformed") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError("algorithm")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            options={
                "require_sub": True, "require_aud": True, "require_iss": True,
                # exp/iat presence and times are checked below against the injected clock: jose's
                # require_exp would also compare exp with the wall clock
                "verify_exp": False, "verify_nbf": False, "verify_iat": False,
            },
        )
    except JWTError as exc:
        msg = str(exc).lower()
        if "audience" in msg:
            raise TokenError("audience") from exc
        if "issuer" in msg:
            raise TokenError("issuer") from exc
        raise TokenError("invalid") from exc
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = claims
    return claims


def decode_token(token: str, *, secret: str, audience: str, issuer: str, now: datetime) -> TokenClaims:
    """Verify signature (HS256 only), audience, issuer and times against the injected clock."""
    if not token or len(token) > 4096:
        raise TokenError("malformed")
    claims = _verified_claims(token, secret=secret, audience=audience, issuer=issuer)
    ts = now.timestamp()
    try:
        exp = int(claims["exp"])
        iat = int(claims["iat"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("invalid") from exc
    if exp <= ts:
        raise TokenError("expired")
    if iat > ts + 30:  # a token from the future (allow small skew)
        raise TokenError("not_yet_valid")
    nbf = claims.get("nbf")
    if nbf is not None and int(nbf) > ts + 30:
        raise TokenError("not_yet_valid")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("invalid")
    extra = {k: v for k, v in claims.items() if k not in {"sub", "aud", "iss", "iat", "nbf", "exp", "jti"}}
    return TokenClaims(sub=sub, aud=audience, jti=claims.get("jti"), exp=datetime.fromtimestamp(exp, UTC),
                       extra=extra)


def keyed_hash(secret: str, value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of a value under the server secret; deterministic so it can be looked up."""
    key = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def new_opaque_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_activation_code() -> str:
    """12 symbols from a 30-letter alphabet (~59 bits), printed as XXXX-XXXX-XXXX."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalize_activation_code(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(cleaned) != 12:
        return cleaned
    return f"{cleaned[:4]}-{cleaned[4:8]}-{cleaned[8:]}"


INVITE_CODE_LENGTH = 8


def new_invite_code() -> str:
    """A household invitation: 8 symbols from the look-alike-free alphabet (30^8, ~39 bits), shown as XXXX-XXXX.
    Short enough to read out over the phone; it lives hours, not weeks, and guesses are rate-limited."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(INVITE_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_invite_code(code: str) -> str:
    """What a typed or scanned invitation code is looked up as: upper case, separators and blanks dropped,
    then XXXX-XXXX (anything of another length is returned as it is and matches nothing)."""
    folded = unicodedata.normalize("NFKC", code).upper()  # full-width letters and digits (a Chinese IME) fold
    cleaned = "".join(ch for ch in folded if ch.isascii() and ch.isalnum())
    if len(cleaned) != INVITE_CODE_LENGTH:
        return cleaned
    return f"{cleaned[:4]}-{cleaned[4:]}"


def new_receipt() -> str:
    return secrets.token_urlsafe(18)



# Printed ballot slips: the QR code and the code printed under it carry the motion, the household and a keyed
# check, so a slip cannot be forged, nor entered for another motion. Ids are 32 lowercase hex characters
# (app.core.db.new_id); the check is the first 20 hex characters (80 bits) of an HMAC under the server secret.
_SLIP_PREFIX = "S1"
_SLIP_MAC_LEN = 20


def _slip_mac(secret: str, motion_id: str, household_id: str) -> str:
    return keyed_hash(secret, f"{motion_id}:{household_id}", purpose="ballot-slip")[:_SLIP_MAC_LEN]


def slip_code(secret: str, *, motion_id: str, household_id: str) -> str:
    """The code printed on a household's ballot slip for one motion: ``S1-<motion>-<household>-<check>``."""
    return f"{_SLIP_PREFIX}-{motion_id}-{household_id}-{_slip_mac(secret, motion_id, household_id)}"


def read_slip_code(secret: str, code: str, *, motion_id: str) -> str | None:
    """The household a slip code was printed for, when the code is genuine and belongs to ``motion_id``;
    None for anything else (another motion's slip, a forged or mistyped check, garbage). Case and
    surrounding blanks are forgiven, as a scanner or a clerk may add them."""
    parts = code.strip().lower().split("-")
    if len(parts) != 4 or parts[0] != _SLIP_PREFIX.lower():
        return None
    _, motion, household, mac = parts
    if len(motion) != 32 or len(household) != 32 or len(mac) != _SLIP_MAC_LEN:
        return None
    if not hmac.compare_digest(mac, _slip_mac(secret, motion, household)):
        return None
    return household if hmac.compare_digest(motion, motion_id) else None
