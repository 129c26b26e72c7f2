"""The architecture, checked: lower layers never import upper ones (import-linter, shown to
refuse a planted upward import), ruff finds nothing, every named SQL statement is used, and
nothing outside the engine and the table modules writes SQL for a table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import touchgrass
from touchgrass.queue import sql as queue_sql
from touchgrass.store import chains, challenges, images, likes, submissions, users

PACKAGE = Path(touchgrass.__file__).parent

REPO = PACKAGE.parent
# The layers are import-linter's contract in pyproject.toml (highest first).
LAYERS: list[str] = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
    "contracts"][0]["layers"]


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is missing: pip install -e '.[dev]'"
    return found


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the package found under `root` (its pyproject's contract)."""
    return subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=120)


def test_the_layer_contract_holds() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_the_layer_contract_refuses_a_planted_upward_import(tmp_path: Path) -> None:
    """The check can fail: a copy of the package where the base layer imports the CLI."""
    shutil.copytree(PACKAGE, tmp_path / "touchgrass",
                    ignore=shutil.ignore_patterns("node_modules", "js", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = tmp_path / "touchgrass" / "db.py"
    planted.write_text(planted.read_text() + "\nimport touchgrass.cli  # planted\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "touchgrass.db -> touchgrass.cli" in result.stdout


def test_every_top_level_module_is_in_a_layer() -> None:
    """A module no layer names is one import-linter would not check at all."""
    named = {member.strip() for layer in LAYERS for member in layer.split(":")}
    top_level = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
                 if (path.suffix == ".py" and path.stem != "__init__")
                 or (path.is_dir() and (path / "__init__.py").exists())}
    assert top_level - named == set(), "add these to the layers in pyproject.toml"


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "touchgrass", "tests",
                             "bench", "alembic"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


def source_without(path: Path) -> str:
    return "\n".join(p.read_text() for p in PACKAGE.rglob("*.py") if p != path)


def test_every_queue_statement_is_used() -> None:
    others = source_without(Path(queue_sql.__file__))
    bench = (PACKAGE.parent / "bench" / "queue_claims.py")
    others += bench.read_text() if bench.exists() else ""
    for name in queue_sql.STATEMENTS:
        assert f'"{name}"' in others, f"queue statement {name} is never used"


@pytest.mark.parametrize("module", [submissions, challenges, users, chains, likes, images])
def test_every_table_statement_is_used(module) -> None:
    text = Path(module.__file__).read_text()
    for name in module.STATEMENTS:
        constant = name.upper()
        # defined once, listed in STATEMENTS once, used at least once
        assert text.count(constant) >= 3, f"{module.__name__}.{constant} is never used"


def test_only_table_modules_and_the_engine_write_sql() -> None:
    allowed = {"queue/sql.py", "db.py", "queue/listener.py"}
    writes = re.compile(r"\b(UPDATE\s+[a-z_]+\s+(AS|SET)\b|INSERT INTO\s+[a-z_]+|DELETE FROM\s+[a-z_]+)",
                        re.IGNORECASE)
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(PACKAGE))
        if relative in allowed or relative.startswith("store/"):
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#") or not writes.search(stripped):
                continue
            if '"' in stripped or "'" in stripped:
                raise AssertionError(f"{relative} writes SQL: {stripped}")
