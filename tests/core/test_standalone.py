"""The repository stands alone: nothing in it reads or names a place outside it, and every
section of the project's documents that the code cites exists in docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "tests", "bench", "scripts", "docs", ".ci")
TOP_FILES = ("README.md", "Makefile", "pyproject.toml")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".sh", ".json", ".ini", ".mako", ".html", ".txt", ""}
# Paths of the machines the project was written on, and the shared folder beside the clone.
# Spelt in pieces so this file does not match itself.
OUTSIDE = re.compile("|".join([
    "/" + "work/", r"\.\./" + "shared", "shared/" + "design", "shared/" + "vectors",
    "shared/" + "seed", "/" + "home/", "/" + "root/",
]))
CITATION = re.compile(r"(card-protocol|domain-rules)(?:\.md)? §(\d+)(?:\.(\d+))?")
SEED_CLAUSE = re.compile(r"\bseed ([一二三四])(?:\.(\d+))?", re.IGNORECASE)


def project_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES]
    for folder in SCANNED:
        files += [path for path in (ROOT / folder).rglob("*")
                  if path.is_file() and path.suffix in TEXT_SUFFIXES
                  and ".venv" not in path.parts and "__pycache__" not in path.parts]
    return files


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_the_scan_sees_the_project():
    names = {path.relative_to(ROOT).as_posix() for path in project_files()}
    assert {"src/yikatong/crypto/pboc.py", "tests/vectors/pboc-epurse.json", ".ci/run",
            "docs/card-protocol.md", "README.md"} <= names


def test_no_file_names_a_place_outside_the_repository():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in project_files()
             for number, line in enumerate(read(path).splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, "\n".join(found)


def headings(document: str) -> set[str]:
    """'3', '3.7', ... for every '## 3. …' / '### 3.7 …' heading of docs/<document>.md."""
    text = read(ROOT / "docs" / f"{document}.md")
    return {match.group(1) for match in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", text, re.M)}


@pytest.mark.parametrize("document", ["card-protocol", "domain-rules"])
def test_every_cited_section_exists(document):
    sections = headings(document)
    assert sections, f"docs/{document}.md has no numbered sections"
    cited = {}
    for path in project_files():
        for match in CITATION.finditer(read(path)):
            if match.group(1) == document:
                number = match.group(2) + (f".{match.group(3)}" if match.group(3) else "")
                cited.setdefault(number, path.relative_to(ROOT).as_posix())
    assert cited, f"nothing cites docs/{document}.md?"
    missing = {number: where for number, where in cited.items() if number not in sections}
    assert not missing, f"cited but not in docs/{document}.md: {missing}"


def test_every_cited_requirements_clause_is_listed():
    clauses = read(ROOT / "docs" / "domain-rules.md")
    cited = {}
    for path in project_files():
        for match in SEED_CLAUSE.finditer(read(path)):
            clause = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
            cited.setdefault(clause, path.relative_to(ROOT).as_posix())
    assert cited
    missing = {clause: where for clause, where in cited.items() if f"| {clause} |" not in clauses}
    assert not missing, f"cited but not in docs/domain-rules.md §0: {missing}"
