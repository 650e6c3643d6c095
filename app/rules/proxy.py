"""Proxies (委托代理人) of paper ballots: the key one proxy is counted by, from the name as written.

The cap on households per proxy and motion counts proxies by this key, so the same person written with a
different width, spacing or middle dot is still one proxy: Unicode NFKC (full-width letters and digits become
ASCII), every blank removed (also the ideographic space), the middle dots of transliterated names (·, ・, •,
‧, .) removed, case folded. Two different people of the same name are one proxy for the cap (the committee
sees the relation and the authorisation photo)."""

from __future__ import annotations

import unicodedata

_DROP = {"·", "・", "•", "‧", ".", "･", "-", "‐", "－"}


def proxy_key(name: str) -> str:
    """The normalised name; "" when nothing is left (no proxy)."""
    s = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in s if not ch.isspace() and ch not in _DROP).casefold()
