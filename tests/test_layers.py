"""Imports run one way: core < index < qa < evals < frontends < app.py, with no cycles.

An AST walk over every first-party module, counting imports inside functions and under
``TYPE_CHECKING`` too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from tests.conftest import ROOT

# Bottom to top. A module may import its own package and the packages below it.
LAYERS = ("core", "index", "qa", "evals", "frontends", "app")
# Finer rules inside a layer: (importer prefix, imported prefix, why it is forbidden).
FORBIDDEN = (
    ("qa.retrieval", "index.indexer", "the read path must not import the write path"),
    ("qa.answering", "index.indexer", "the read path must not import the write path"),
    ("qa.answering", "qa.service", "answerers are wired by the service, not the other way"),
    ("index.", "tests", "test plumbing stays out of production modules"),
    ("qa.", "tests", "test plumbing stays out of production modules"),
)


def modules(root: Path) -> dict[str, Path]:
    """First-party module name -> file, for the layered packages and ``app.py``."""
    found: dict[str, Path] = {}
    for package in LAYERS[:-1]:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    if (root / "app.py").is_file():
        found["app"] = root / "app.py"
    return found


def imports(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """First-party modules (or ``tests...``) that the module ``name`` imports."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` depends on pkg.mod when that is a module.
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            if target.split(".")[0] == "tests":
                out.add(target)
                continue
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def violations(root: Path) -> list[str]:
    """Every upward import, forbidden import and import cycle under ``root``."""
    mods = modules(root)
    graph = {name: imports(name, path, mods) for name, path in mods.items()}
    found: list[str] = []
    for name, targets in sorted(graph.items()):
        for target in sorted(targets):
            for source_prefix, target_prefix, why in FORBIDDEN:
                if name.startswith(source_prefix) and target.startswith(target_prefix):
                    found.append(f"{name} imports {target}: {why}")
            if target.split(".")[0] == "tests":
                continue
            if layer(target) > layer(name):
                found.append(f"{name} imports {target}: upward ({LAYERS[layer(target)]} is above)")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_imports_run_downward_without_cycles() -> None:
    assert violations(ROOT) == []


def test_every_package_is_in_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(LAYERS[:-1])


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_check_catches_upward_imports_cycles_and_forbidden_ones(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/types.py": "def f():\n    from qa.service import S\n",  # upward, lazily
            "index/__init__.py": "",
            "index/a.py": "from index import b\n",
            "index/b.py": "import index.a\n",  # cycle a -> b -> a
            "index/indexer.py": "",
            "qa/__init__.py": "",
            "qa/service.py": "from index import indexer\n",
            "qa/retrieval.py": "from index.indexer import refresh\n",  # read path -> write path
            "evals/__init__.py": "",
            "frontends/__init__.py": "",
            "app.py": "import frontends\n",
        },
    )
    found = violations(tmp_path)
    assert any(v.startswith("core.types imports qa.service: upward") for v in found)
    assert "import cycle: index.a -> index.b" in found
    assert any(v.startswith("qa.retrieval imports index.indexer") for v in found)
    assert len(found) == 3
