"""The architecture, checked: lower layers never import upper ones, every named SQL statement
is used, and nothing outside the engine and the table modules writes SQL for a table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import touchgrass
from touchgrass.queue import sql as queue_sql
from touchgrass.store import chains, challenges, images, likes, submissions, users

PACKAGE = Path(touchgrass.__file__).parent

# Each layer may import itself and the layers listed after it, never those before it.
LAYERS = [
    ("cli", {"cli"}),
    ("roles/operator/api/client", {"roles", "operator", "api", "client"}),
    ("queue/store", {"queue", "store", "images"}),
    ("interfaces", {"proof", "chain", "storage"}),
    ("base", {"db", "settings", "logs", "errors", "signature", "signing", "mina", "migrations"}),
]


def layer_of(module: str) -> int:
    top = module.split(".")[1] if module.startswith("touchgrass.") else ""
    for index, (_name, members) in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module} is in no layer; add it to LAYERS")


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if name != "touchgrass":
            found.append((name, path))
    return found


@pytest.mark.parametrize("module, path", modules(), ids=lambda value: str(value))
def test_lower_layers_do_not_import_upper_layers(module: str, path: Path) -> None:
    own = layer_of(module)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("touchgrass."):
            imported = node.module
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("touchgrass.")]
            if not names:
                continue
            imported = names[0]
        else:
            continue
        assert layer_of(imported) >= own, f"{module} (layer {own}) imports {imported}"


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
