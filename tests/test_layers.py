"""Imports point one way: routes start jobs through workflows' job requests and never reach into activities, so an
activity's module (its clients, its database work) can change without the API importing it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_api_never_imports_activities():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "activities")
        for path in (ROOT / "api").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}
