"""Imports point one way, and each shelf holds what its name says.

- Routes start jobs through workflows' job requests and never reach into activities, so an activity's module (its
  clients, its database work) can change without the API importing it.
- `domain/` is pure rules and value types: it reads no adapter, step or runtime, so a rule is tested on its own.
- `clients/` are adapters to outside services and `db/` is our own database: neither reaches up into the steps
  that use them, and `db/` stores the domain's values without knowing the adapters that read them.
- `activities/` holds activities: a module there defines at least one.
- `applications/` is read by both processes: the worker takes its activities, the API its routers, and neither
  loads the other's half.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("applications", "domain", "runtime", "clients", "db", "activities", "workflows", "api")

# Which top-level folders a folder's modules may not import (type-only imports under TYPE_CHECKING aside).
# Only worker.py and api/app.py read `applications/`.
FORBIDDEN = {
    "api": {"activities"},
    "domain": {"runtime", "clients", "activities", "workflows", "api", "applications"},
    "clients": {"db", "activities", "workflows", "api", "applications"},
    "db": {"clients", "activities", "workflows", "api", "applications"},
    "runtime": {"activities", "workflows", "api", "applications"},
    "activities": {"api", "applications"},
    "workflows": {"applications"},
}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, at_import: bool = False) -> set[str]:
    """The modules `path` imports; with `at_import`, only those importing it loads (not a function body's)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if (isinstance(node, ast.If) and _type_checking_only(node))
        or (at_import and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))
        for child in node.body
        for n in ast.walk(child)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_imports_point_one_way():
    offenders = {}
    for folder, forbidden in FORBIDDEN.items():
        for path in (ROOT / folder).rglob("*.py"):
            bad = sorted(m for m in imported_modules(path) if m.split(".")[0] in forbidden)
            if bad:
                offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_an_application_loads_each_half_only_in_the_process_that_uses_it():
    # Its activities (their clients and database work) are the worker's, its routes the API's: a module in
    # `applications/` imports them inside the functions each process calls. (The API still loads the activity modules
    # the workflows import for their steps' types; an application module adds none.)
    loaded = {
        p.name: sorted(m for m in imported_modules(p, at_import=True) if m.split(".")[0] in {"activities", "api"})
        for p in (ROOT / "applications").glob("*.py")
    }
    assert loaded and {name: mods for name, mods in loaded.items() if mods} == {}


def test_the_worker_process_loads_no_route():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, worker; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'api', 'fastapi', 'starlette'}))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"


def test_every_module_in_activities_defines_an_activity():
    def defines_activity(path: Path) -> bool:
        tree = ast.parse(path.read_text(), filename=str(path))
        return any(
            isinstance(node, ast.Attribute) and node.attr == "defn" and getattr(node.value, "id", "") == "activity"
            for node in ast.walk(tree)
        )

    shelf = [p for p in (ROOT / "activities").glob("*.py") if p.name != "__init__.py"]
    assert shelf and [p.name for p in shelf if not defines_activity(p)] == []


def test_every_product_folder_is_installed_and_shipped():
    # A new shelf missing here imports fine from the project's root, and then not from the image or an install.
    pyproject = (ROOT / "pyproject.toml").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text().splitlines()
    assert [f for f in PRODUCT if f'"{f}*"' not in pyproject] == []
    assert [f for f in PRODUCT if f"COPY {f} {f}" not in dockerfile] == []


def _imported_names(path: Path) -> set[str]:
    """Every dotted name an import in `path` reaches, `from a import b` as both `a` and `a.b`; a relative import
    (only ever within tests/) as if under `tests.`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = ".".join(filter(None, ["tests" if node.level else "", node.module or ""]))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_imports_another_test_module_or_a_conftest():
    # What two test modules share lives in tests/support/: a helper kept in a test module ties that module's name and
    # place to every test that borrows it, and a conftest is pytest's to load (an import loads it a second time).
    def borrowed(name: str) -> bool:
        last = name.rsplit(".", 1)[-1]
        return name.startswith("tests.") and (last.startswith("test_") or last == "conftest")

    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imported_names(path) if borrowed(n))
        for path in (ROOT / "tests").rglob("test_*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}
