"""The JavaScript is checked: every module is `// @ts-check` with JSDoc types, and TypeScript
(a pinned dev dependency of the JS package) checks them all, as installed, against o1js's and
Node's own type declarations. Every import from o1js's internal files goes through one module
(src/o1js-internal.js) that names the o1js release it was read against. Each check is shown to
fail on a planted defect."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from touchgrass.devtools.devnet import DEVNET_JS
from touchgrass.node.install import (
    JS_SOURCE,
    O1JS_VERSION,
    Installation,
    find_node,
    install,
    sync_extra_source,
)
from touchgrass.settings import ProverSettings

INTERNAL = JS_SOURCE / "src" / "o1js-internal.js"
# Every JS file of the repository: the prover's, the devnet's, the benches' and the tests'.
JS_FILES = sorted([*JS_SOURCE.glob("src/*.js"), *DEVNET_JS.glob("*.js"),
                   *(REPO_ROOT / "bench").glob("*.mjs"), *(REPO_ROOT / "tests").rglob("*.mjs")])
# What reaching into o1js's files looks like: resolving the package to build a path inside it.
REACHES_INSIDE = re.compile(r"import\.meta\.resolve\(\s*['\"]o1js['\"]\s*\)|o1js/dist/")


@pytest.fixture(scope="module")
def installation() -> Installation:
    settings = ProverSettings()
    target = install(settings.prover_js_dir, settings.node_binary, dev=True)
    sync_extra_source(target, DEVNET_JS, "devnet")
    for helper in JS_FILES:  # the bench's and the tests' helpers run from extra/ too
        if helper.suffix == ".mjs":
            sync_extra_source(target, helper, helper.name)
    return target


def typecheck(directory: Path) -> subprocess.CompletedProcess[str]:
    tsc = directory / "node_modules" / "typescript" / "bin" / "tsc"
    return subprocess.run([find_node("node"), str(tsc), "-p", str(directory / "tsconfig.json")],
                          cwd=directory, capture_output=True, text=True, timeout=600)


def test_every_js_module_is_type_checked() -> None:
    assert JS_FILES
    unchecked = [str(path.relative_to(REPO_ROOT)) for path in JS_FILES
                 if not path.read_text().startswith("// @ts-check")]
    assert unchecked == []


def test_the_js_type_checks(installation: Installation) -> None:
    done = typecheck(installation.directory)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_type_check_fails_on_a_planted_defect(installation: Installation,
                                                  tmp_path: Path) -> None:
    """The same sources in a copy of the installation's layout, with a chain made of a
    number where the state folder's path goes: TypeScript refuses it, naming the line."""
    for part in ("src", "extra"):
        shutil.copytree(installation.directory / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("legacy*"))
    shutil.copy(installation.directory / "tsconfig.json", tmp_path)
    shutil.copy(installation.directory / "package.json", tmp_path)
    (tmp_path / "node_modules").symlink_to(installation.directory / "node_modules")
    assert typecheck(tmp_path).returncode == 0
    planted = tmp_path / "extra" / "devnet" / "chain.js"
    planted.write_text(planted.read_text() + "\nexport const planted = new Chain("
                       "{ stateDir: 7, accounts: 1, fundedBalance: 1n, log: () => {} });\n")
    done = typecheck(tmp_path)
    assert done.returncode != 0
    assert re.search(r"chain\.js\(\d+,\d+\): error TS2322: Type 'number' is not assignable to "
                     r"type 'string'", done.stdout), done.stdout


def reaching_inside(paths: list[Path]) -> list[str]:
    """The files, other than o1js-internal.js, that import o1js's internal files."""
    return [path.name for path in paths
            if path != INTERNAL and REACHES_INSIDE.search(path.read_text())]


def test_only_one_module_imports_o1js_internals(tmp_path: Path) -> None:
    assert reaching_inside(JS_FILES) == []
    assert REACHES_INSIDE.search(INTERNAL.read_text())  # it does, and only it
    # shown failing on a planted defect: a module reaching past o1js's exports by itself
    planted = tmp_path / "planted.js"
    planted.write_text("const o1js = import.meta.resolve('o1js');\n"
                       "const m = await import(new URL('./lib/x.js', o1js).href);\n")
    assert reaching_inside([*JS_FILES, planted]) == ["planted.js"]


def test_the_internal_imports_name_the_pinned_o1js() -> None:
    """o1js-internal.js says which o1js its paths were read against: the lockfile's."""
    read_against = re.search(r"READ_AGAINST = '([^']+)'", INTERNAL.read_text())
    lock = json.loads((JS_SOURCE / "package-lock.json").read_text())
    assert read_against and read_against.group(1) == O1JS_VERSION == \
        lock["packages"]["node_modules/o1js"]["version"]


def test_no_js_module_keeps_mutable_state_at_module_level() -> None:
    """The devnet's state lives in its objects (a Chain, the archive's and the daemon's
    resolvers), not in `let` bindings at the top of a module. Top-level `let` is the one
    form of it a reader cannot miss; shown failing on a planted one."""
    def top_level_lets(text: str) -> list[str]:
        return re.findall(r"^let \w+", text, flags=re.MULTILINE)

    for path in DEVNET_JS.glob("*.js"):
        assert top_level_lets(path.read_text()) == [], path.name
    assert top_level_lets("let paused = false;\nfunction f() {\n  let x = 1;\n}\n") == \
        ["let paused"]
