"""The repository explains itself: its reasons are in docs/, nothing points outside it, every
"queue rule N" the code cites is defined in docs/pipeline.md, the README stays a front page,
and every relative link resolves. Each check is shown failing on a planted defect."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

DOCS = REPO_ROOT / "docs"
# What a pointer outside the repository looks like: the steering notes it came from, or a
# notes file named bare (pipeline.md, http-api.md, ...) that no path in the repository has.
OUTSIDE = re.compile(r"\.\./shared|shared/spec")
NOTE_NAME = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
RULE = re.compile(r"\b(queue )?rules? (\d+)((?:, \d+)*(?: and \d+)?)", re.IGNORECASE)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def tracked_texts() -> dict[Path, str]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    texts = {}
    for name in names:
        path = REPO_ROOT / name
        if path.suffix in {".lock", ".png", ".jpg"} or name.endswith("package-lock.json"):
            continue
        try:
            texts[path] = path.read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
    return texts


def outside_references(path: Path, text: str) -> list[str]:
    """Pointers that leave the repository: the notes folder, or a bare .md name that is no
    file here (beside the text, at the root, or in docs/)."""
    found = [match.group(0) for match in OUTSIDE.finditer(text)]
    for match in NOTE_NAME.finditer(text):
        name = match.group(1)
        if not any((base / name).exists() for base in (path.parent, REPO_ROOT, DOCS)):
            found.append(name)
    return found


def defined_rules() -> set[int]:
    return {int(n) for n in re.findall(r"^### Queue rule (\d+):", (DOCS / "pipeline.md").read_text(),
                                      flags=re.MULTILINE)}


def unanchored_rules(text: str, defined: set[int]) -> list[str]:
    """A "rule N" not written as a queue rule, or a queue rule docs/pipeline.md lacks."""
    bad = []
    for match in RULE.finditer(text):
        numbers = [int(n) for n in re.findall(r"\d+", match.group(0))]
        if not match.group(1) or not set(numbers) <= defined:
            bad.append(match.group(0))
    return bad


def test_nothing_points_outside_the_repository() -> None:
    found = {str(path.relative_to(REPO_ROOT)): refs for path, text in tracked_texts().items()
             if path.name != "test_docs.py" and (refs := outside_references(path, text))}
    assert found == {}


def test_every_rule_cited_is_a_queue_rule_docs_define() -> None:
    defined = defined_rules()
    assert defined == set(range(1, 10))
    found = {str(path.relative_to(REPO_ROOT)): bad for path, text in tracked_texts().items()
             if path.name != "test_docs.py" and path.suffix in {".py", ".js", ".md", ".sql"}
             and (bad := unanchored_rules(text, defined))}
    assert found == {}


def test_the_checks_fail_on_planted_references(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    assert outside_references(planted, "# see ../shared/spec/pipeline.md") != []
    assert outside_references(planted, "# the nonce (proof-and-chain.md)") == ["proof-and-chain.md"]
    assert outside_references(planted, "# see docs/chain.md and README.md") == []
    assert unanchored_rules("# fenced by the lease (rule 3)", {3}) == ["rule 3"]
    assert unanchored_rules("# (queue rules 3, 12)", {3}) == ["queue rules 3, 12"]
    assert unanchored_rules("# (queue rules 3, 7)", {3, 7}) == []


def test_the_readme_is_a_front_page_with_a_map_of_docs() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    mapped = set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
    assert mapped == {path.name for path in DOCS.glob("*.md")} - {"README.md"}


def broken_links(path: Path, text: str) -> list[str]:
    return [target for target in LINK.findall(text)
            if "://" not in target and not (path.parent / target).exists()]


def test_every_relative_link_in_the_docs_resolves(tmp_path: Path) -> None:
    for path in [REPO_ROOT / "README.md", REPO_ROOT / "bench" / "README.md",
                 *DOCS.glob("*.md")]:
        assert broken_links(path, path.read_text()) == [], path.name
    assert broken_links(tmp_path / "x.md", "see [the pipeline](pipeline.md)") == ["pipeline.md"]


def test_every_setting_is_described_and_the_reference_table_is_current() -> None:
    """Each setting's description is its documentation: none is missing, and
    docs/operations.md's table is exactly what `python -m touchgrass.settings` prints."""
    from pydantic_settings import BaseSettings

    from touchgrass import settings

    undescribed = [f"{cls.__name__}.{name}" for cls in BaseSettings.__subclasses__()
                   if cls.__module__ == settings.__name__
                   for name, field in cls.model_fields.items() if not field.description]
    assert undescribed == []
    page = (DOCS / "operations.md").read_text()
    shown = page.split("<!-- settings table: begin -->\n", 1)[1].split("<!-- settings table: end -->", 1)[0]
    assert shown == settings.settings_table(), "run `python -m touchgrass.settings` into docs/operations.md"
