"""The architecture, checked: lower layers never import upper ones (import-linter, shown to
refuse a planted upward import), ruff and mypy find nothing (each shown to fail on a planted
defect), every named SQL statement is used, and
nothing outside the engine and the table modules writes SQL for a table."""

from __future__ import annotations

import ast
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
from touchgrass.store import (
    chains,
    challenges,
    likes,
    notifications,
    pending_images,
    receipts,
    submissions,
    users,
)

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
    _copy_package(tmp_path)
    planted = tmp_path / "touchgrass" / "db.py"
    planted.write_text(planted.read_text() + "\nimport touchgrass.cli  # planted\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "touchgrass.db -> touchgrass.cli" in result.stdout


def test_the_layer_contract_refuses_a_planted_sibling_import(tmp_path: Path) -> None:
    """Independent siblings stay independent: the publish role reaching into the API."""
    _copy_package(tmp_path)
    planted = tmp_path / "touchgrass" / "roles" / "publish.py"
    planted.write_text(planted.read_text() + "\nimport touchgrass.api.http  # planted\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "touchgrass.roles.publish -> touchgrass.api.http" in result.stdout


def test_every_top_level_module_is_in_a_layer() -> None:
    """A module no layer names is one import-linter would not check at all."""
    named = {member.strip() for layer in LAYERS for member in re.split(r"[:|]", layer)}
    top_level = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
                 if (path.suffix == ".py" and path.stem != "__init__")
                 or (path.is_dir() and (path / "__init__.py").exists())}
    assert top_level - named == set(), "add these to the layers in pyproject.toml"


def _copy_package(root: Path) -> Path:
    shutil.copytree(PACKAGE, root / "touchgrass",
                    ignore=shutil.ignore_patterns("node_modules", "js", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root / "touchgrass"


def _mypy(root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy as configured in the pyproject under `root` (strict, the whole package)."""
    return subprocess.run([_tool("mypy"), "--cache-dir", str(cache)], cwd=root,
                          capture_output=True, text=True, timeout=600)


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    result = _mypy(REPO, tmp_path / "cache")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_mypy_and_ruff_fail_on_planted_defects(tmp_path: Path) -> None:
    """The checks can fail: an untyped function in the queue core and one in a role (mypy is
    strict on the whole package), an unused import (ruff)."""
    package = _copy_package(tmp_path)
    for planted in (package / "queue" / "engine.py", package / "roles" / "notify.py"):
        planted.write_text(planted.read_text() + "\n\ndef planted(value):\n    return value\n")
    result = _mypy(tmp_path, tmp_path / "cache")
    assert result.returncode != 0
    assert "engine.py" in result.stdout and "notify.py" in result.stdout
    assert "no-untyped-def" in result.stdout
    (package / "db.py").write_text("import os  # planted\n" + (package / "db.py").read_text())
    linted = subprocess.run([_tool("ruff"), "check", "--no-cache", "touchgrass/db.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert linted.returncode != 0 and "F401" in linted.stdout


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([_tool("ruff"), "check", "--no-cache", "touchgrass", "tests",
                             "bench", "alembic"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]


_LOG_METHODS = {"debug", "info", "warning", "error", "exception"}


def _is_log_call(node: ast.Call) -> bool:
    return (isinstance(node.func, ast.Attribute) and node.func.attr in _LOG_METHODS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "log")


def _listing(tree: ast.AST) -> set[int]:
    """The nodes of a `STATEMENTS = {...}` table: being listed there is not a use."""
    listing: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "STATEMENTS"
                for target in node.targets):
            listing.update(id(child) for child in ast.walk(node.value))
    return listing


def used_strings(source: str) -> set[str]:
    """Whole string constants of a module, except log actions (`log.info("claim", ...)`
    names an event, not a statement), the text of log messages and a STATEMENTS table."""
    tree = ast.parse(source)
    skipped = _listing(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_log_call(node):
            skipped.update(id(argument) for argument in node.args[:2])
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skipped}


def used_names(source: str) -> set[str]:
    """Names a module reads, outside a STATEMENTS table. Whole names only: SUBMISSION_GET is
    not used by SUBMISSION_GET_ALL, nor by a comment or a string that mentions it."""
    tree = ast.parse(source)
    listing = _listing(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in listing:
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


def _sources(*, without: Path) -> list[str]:
    paths = [p for p in PACKAGE.rglob("*.py") if p != without]
    paths += list((REPO / "bench").glob("*.py"))
    return [path.read_text() for path in paths]


def test_every_queue_statement_is_used() -> None:
    used = set().union(*map(used_strings, _sources(without=Path(queue_sql.__file__))))
    unused = set(queue_sql.STATEMENTS) - used
    assert not unused, f"queue statements never used: {sorted(unused)}"


@pytest.mark.parametrize("module", [submissions, receipts, challenges, users, chains, likes,
                                    pending_images, notifications])
def test_every_table_statement_is_used(module) -> None:
    used = set().union(*map(used_names, _sources(without=Path("-"))))
    unused = {name.upper() for name in module.STATEMENTS} - used
    assert not unused, f"{module.__name__}: never used: {sorted(unused)}"


def test_the_usage_checks_see_through_log_actions_and_longer_names() -> None:
    """Planted defects the old substring checks passed: a statement whose name is only a log
    action, and a constant that only occurs inside a longer name, in a comment or in text."""
    planted = '''
STATEMENTS = {"claim": CLAIM, "user_get": USER_GET}
# USER_GET is documented here
USER_GET_ALL = "SELECT 1"
async def run(log, executor):
    log.info("claim", "claimed %d rows", 3)
    log.info("fetch", "USER_GET ran")
    return await executor.fetch(USER_GET_ALL)
'''
    assert "claim" not in used_strings(planted)
    assert "USER_GET" not in used_names(planted)
    assert "USER_GET_ALL" in used_names(planted)
    assert "claim" in used_strings(planted.replace('log.info("claim"', 'statement("claim"'))


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


# The queue's own columns, and the statuses that put a row into a stage: only the engine
# (queue/sql.py) writes them, so every way into a stage goes through `engine.requeue`.
_QUEUE_COLUMNS = r"(attempts|run_at|lease_owner|lease_expires_at)\s*="
_INTO_A_STAGE = r"(status|deployment_status)\s*=\s*'(proof_generation|proof_publishing|pending_deployment)'"
_UPDATE_SET = re.compile(r"\bUPDATE\s+\w+\s+SET\b(.*?)(\bWHERE\b|\bRETURNING\b|$)",
                         re.IGNORECASE | re.DOTALL)


def queue_state_writes(statement: str) -> list[str]:
    """The queue-state assignments in the SET clauses of `statement`'s UPDATEs, or anywhere in
    a fragment (assignments a table module hands to `engine.requeue`)."""
    found = []
    statement_kinds = re.compile(r"^\s*(WITH|SELECT|UPDATE|INSERT|DELETE)\b", re.IGNORECASE)
    clauses = ([(statement, "")] if not statement_kinds.match(statement)
               else _UPDATE_SET.findall(statement))
    for assignments, _end in clauses:
        found += [m.group(0) for pattern in (_QUEUE_COLUMNS, _INTO_A_STAGE)
                  for m in re.finditer(pattern, assignments, re.IGNORECASE)]
    return found


@pytest.mark.parametrize("module", [submissions, receipts, challenges, users, chains, likes,
                                    pending_images, notifications])
def test_the_store_leaves_queue_state_to_the_engine(module) -> None:
    texts = {name: getattr(module, name.upper()) for name in module.STATEMENTS}
    writes = {name: queue_state_writes(text) for name, text in texts.items()}
    assert not {name: found for name, found in writes.items() if found}


def test_the_queue_state_check_finds_a_planted_write() -> None:
    """The statements the store had before `engine.requeue`, and what may stay."""
    planted = """UPDATE submissions
SET status = 'proof_publishing', attempts = 0, run_at = now(), lease_owner = NULL
WHERE id = $1 AND lease_expires_at = now()"""
    assert queue_state_writes(planted) == ["attempts =", "run_at =", "lease_owner =",
                                           "status = 'proof_publishing'"]
    assert queue_state_writes("UPDATE challenges SET deployment_status = 'active' "
                              "WHERE deployment_status = 'pending_deployment'") == []
    assert queue_state_writes("zkapp_address = NULL, attempts = 0") == ["attempts ="]


def exception_classes(source: str) -> list[str]:
    """Classes defined in `source` that derive from an exception (by the base's name)."""
    return [node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)
            and any(isinstance(base, (ast.Name, ast.Attribute))
                    and re.search(r"(Error|Exception|Rejected|Lost|Taken|Network|Synced|Force|"
                                  r"Submission)$", ast.unparse(base)) for base in node.bases)]


def test_every_exception_class_is_in_errors_py() -> None:
    elsewhere = {str(path.relative_to(PACKAGE)): found for path in PACKAGE.rglob("*.py")
                 if path.name != "errors.py" and (found := exception_classes(path.read_text()))}
    assert not elsewhere
    # the check sees a planted one, private or not
    assert exception_classes("class _MatchesNothing(Exception):\n    pass\n") == ["_MatchesNothing"]
    assert exception_classes("class Late(errors.ChainError):\n    pass\n") == ["Late"]


def test_every_table_module_is_checked() -> None:
    """A new table module cannot slip past the two table checks above."""
    checked = {"submissions", "receipts", "challenges", "users", "chains", "likes",
               "pending_images", "notifications"}
    tables = {path.stem for path in (PACKAGE / "store").glob("*.py")
              if "STATEMENTS = {" in path.read_text()}
    assert tables == checked


# -- typed stage payloads (queue/payloads.py) ------------------------------------------------

def _payload_kinds() -> list[tuple[object, type, type | None]]:
    from touchgrass.queue import payloads
    from touchgrass.queue.stages import DEPLOY, GENERATE, NOTIFY, PUBLISH

    return [(GENERATE, payloads.GeneratePayload, payloads.GenerateResult),
            (PUBLISH, payloads.PublishPayload, payloads.PublishResult),
            (DEPLOY, payloads.DeployPayload, payloads.DeployResult),
            (NOTIFY, payloads.NotifyPayload, None)]


def test_each_stage_payload_and_result_is_a_dataclass_of_its_columns() -> None:
    import dataclasses

    for stage, payload, result in _payload_kinds():
        names = [field.name for field in dataclasses.fields(payload)]  # type: ignore[arg-type]
        assert names == list(stage.payload_columns), stage.name  # type: ignore[attr-defined]
        if result is not None:
            written = {field.name for field in dataclasses.fields(result)}  # type: ignore[arg-type]
            assert written <= stage.result_columns, stage.name  # type: ignore[attr-defined]


def test_a_row_of_the_wrong_shape_fails_with_its_column_named() -> None:
    import uuid

    from touchgrass.errors import PermanentJobError
    from touchgrass.queue.payloads import NotifyPayload, read_payload

    good = {"submission_id": uuid.uuid4(), "correlation_id": None}
    assert read_payload(NotifyPayload, good).submission_id == good["submission_id"]
    with pytest.raises(PermanentJobError, match="submission_id is a str"):
        read_payload(NotifyPayload, {**good, "submission_id": "not a uuid"})
    with pytest.raises(PermanentJobError, match="no correlation_id column"):
        read_payload(NotifyPayload, {"submission_id": uuid.uuid4()})


def test_no_role_reads_its_row_by_string_key() -> None:
    """Rows cross into the roles as typed payloads: `payload["..."]` is refused (shown on a
    planted one)."""
    pattern = re.compile(r"""payload\[["']""")
    readers = [path.name for path in (PACKAGE / "roles").glob("*.py")
               if pattern.search(path.read_text())]
    assert readers == []
    assert pattern.search('sha = job.payload["sha256_hash"]')
