"""Every function a domain offers through its ``service.py`` takes its arguments by keyword (the session, when
it has one, may come first): renaming or reordering a parameter then fails at the call, not silently."""

from __future__ import annotations

import importlib
import inspect

from tests.core.test_layers import LAYERS

DOMAINS = [name for name in LAYERS if name not in {"rules", "core"}]


def _positional_beyond_session(fn) -> list[str]:
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if params and params[0].name == "session":
        params = params[1:]
    return [p.name for p in params]


def test_service_functions_are_keyword_only() -> None:
    offenders: dict[str, list[str]] = {}
    checked = 0
    for domain in DOMAINS:
        module = importlib.import_module(f"app.{domain}.service")
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or not fn.__module__.startswith(f"app.{domain}"):
                continue
            checked += 1
            if positional := _positional_beyond_session(fn):
                offenders[f"{fn.__module__}.{name}"] = positional
    assert checked > 100  # the facades re-export the domains' functions: the check sees them
    assert offenders == {}


def test_the_check_sees_a_positional_parameter() -> None:
    async def sample(session, motion_id, *, lock=False):  # noqa: ANN001, ANN202
        return None

    assert _positional_beyond_session(sample) == ["motion_id"]
