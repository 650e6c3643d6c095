"""The printable documents need the CJK font: installed by scripts/fetch_font.sh (as scripts/test.sh does) when
a session starts without it, so `pytest tests/documents` also works on a fresh checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.core.config import default_font_path


@pytest.fixture(scope="session", autouse=True)
def cjk_font() -> Path:
    font = default_font_path()
    if not font.is_file():
        script = Path(__file__).resolve().parents[2] / "scripts" / "fetch_font.sh"
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300, check=False)
        font = default_font_path()
        if not font.is_file():
            pytest.fail(f"no CJK font at {font}; scripts/fetch_font.sh said: {done.stderr.strip()}")
    return font
