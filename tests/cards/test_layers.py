"""The packages stand in layers: applications builds on cards, never the other way round.

The import graph is read from the source (every import statement, also those inside
functions, which run later but are dependencies all the same) and walked from each cards
module through the cards package. (Other domains that cards uses, such as transit, still
reach applications through notices today; that is their layering to straighten, not this
package's.)"""

from __future__ import annotations

import ast
from pathlib import Path

import yikatong

PACKAGE_ROOT = Path(yikatong.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `name` imports (for `from package import module`, the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {module for module in found if module in modules}


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def reachable_from(start: str, modules: dict[str, Path], within: str) -> dict[str, str]:
    """Every project module `start` imports, directly or through modules of `within`, each
    with the module that imports it."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for imported in imports_of(current, modules[current], modules):
            if imported not in seen and imported != start:
                seen[imported] = current
                if in_package(imported, within):
                    todo.append(imported)
    return seen


def chain(to: str, parents: dict[str, str], start: str) -> str:
    links = [to]
    while links[-1] != start and links[-1] in parents:
        links.append(parents[links[-1]])
    return " <- ".join(links)


def test_cards_never_imports_applications():
    modules = project_modules()
    cards = sorted(name for name in modules if in_package(name, "yikatong.cards"))
    assert len(cards) > 5  # the walk found the package
    violations = []
    for start in cards:
        parents = reachable_from(start, modules, within="yikatong.cards")
        violations += [
            chain(name, parents, start)
            for name in parents
            if in_package(name, "yikatong.applications")
        ]
    assert not violations, "cards reaches applications:\n" + "\n".join(sorted(violations)[:10])


def test_the_walk_sees_imports_inside_functions(tmp_path):
    """The checker itself: an import inside a function counts."""
    source = tmp_path / "module.py"
    source.write_text(
        "def later():\n    from yikatong.applications import service\n", encoding="utf-8"
    )
    modules = {"yikatong.applications.service": source, "yikatong.applications": source}
    assert "yikatong.applications.service" in imports_of("yikatong.cards.x", source, modules)
