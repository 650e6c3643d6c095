"""The dependency order of app/ (docs/ARCHITECTURE.md): every ``import`` in app/ — at module level or inside a
function — goes from a higher layer to a lower one, never back. The composition root (main, wiring, api, the
command line and the demo) may import anything; nothing imports it."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"

# lowest first; a package may import only packages earlier in this list
LAYERS = ["rules", "core", "auth", "register", "media", "projects", "surveys", "voting", "funding", "supervision",
          "publicity", "turnout", "board"]
ROOT = {"main", "wiring", "api", "models", "cli_tasks", "demo", "demo_steps", "__main__", "__init__"}

# imports that still run against the order (docs/ARCHITECTURE.md, "Still to be straightened"); the test fails
# when one is added AND when one of these is gone, so this list stays the truth
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _package_of(path: Path) -> str:
    rel = path.relative_to(APP)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_packages(tree: ast.AST) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "app":
                names = [f"app.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "app" and len(parts) > 1:
                found.append((parts[1], node.lineno))
    return found


def edges() -> list[tuple[str, str, str]]:
    """(importer package, imported package, file:line) for every import of app/ by app/."""
    out = []
    for path in sorted(APP.rglob("*.py")):
        src = _package_of(path)
        for dst, line in _imported_packages(ast.parse(path.read_text(encoding="utf-8"))):
            if dst != src:
                out.append((src, dst, f"{path.relative_to(APP.parent)}:{line}"))
    return out


def test_every_package_has_a_place() -> None:
    packages = {_package_of(p) for p in APP.rglob("*.py")}
    assert packages - ROOT - set(LAYERS) == set(), "add the new package to LAYERS (and docs/ARCHITECTURE.md)"


def test_imports_follow_the_layers() -> None:
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    upward = set()
    for src, dst, where in edges():
        if dst in ROOT and src not in ROOT:
            wrong.append(f"{where}: {src} imports the composition root ({dst})")
        elif src in rank and dst in rank and rank[dst] > rank[src]:
            upward.add((src, dst))
            if (src, dst) not in KNOWN_UPWARD:
                wrong.append(f"{where}: {src} imports {dst}, a higher layer")
    assert wrong == []
    assert upward == KNOWN_UPWARD, "an import listed in KNOWN_UPWARD is gone: take it off the list and the docs"


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    code = "def f():\n    from app.voting import service\n    import app.turnout.worker\n"
    assert _imported_packages(ast.parse(code)) == [("voting", 2), ("turnout", 3)]
