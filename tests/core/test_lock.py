"""The lock files cover pyproject.toml: every declared dependency is pinned, with hashes, at a version the
declaration allows (a dependency added without `bash scripts/lock.sh` fails here, not on a fresh machine)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    pins = {canonicalize_name(m.group(1)): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", text, flags=re.M)}
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", text)
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9_.\-]+==", b)), "a pin without a hash"
    return pins


def _declared(extra: str | None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = list(project["dependencies"]) + (list(project["optional-dependencies"][extra]) if extra else [])
    return [Requirement(n) for n in names]


@pytest.mark.parametrize(("lock", "extra"), [("runtime.lock", None), ("dev.lock", "dev")])
def test_every_dependency_is_locked_within_its_range(lock: str, extra: str | None) -> None:
    pins = _pins(lock)
    missing, outside = [], []
    for req in _declared(extra):
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            missing.append(req.name)
        elif not req.specifier.contains(version, prereleases=True):
            outside.append(f"{req.name}=={version} not in {req.specifier}")
    assert missing == [] and outside == [], "run: bash scripts/lock.sh"


def test_runtime_pins_agree_with_dev_pins() -> None:
    dev = _pins("dev.lock")
    assert {n: v for n, v in _pins("runtime.lock").items() if dev.get(n) != v} == {}
