"""The product code type-checks: pyright, configured in pyproject.toml ([tool.pyright]: which folders, how strict),
so `make test` and CI fail on a type error as they fail on a broken test. `make lint` runs the same check."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_product_code_type_checks():
    # The pyright wheel carries pyright itself; IGNORE_WARNINGS skips its look-up of a newer release on PyPI.
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    checked = subprocess.run(
        [sys.executable, "-m", "pyright"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert checked.returncode == 0, f"pyright found type errors:\n{checked.stdout}\n{checked.stderr}"
