"""`adqa_data.train` is a library: no module under it imports the workspace, a stage or the CLI (an AST
scan of every import, relative ones resolved, lazy ones inside functions included), so the trainer can be
driven from any code that hands it groups."""

from __future__ import annotations

import ast
from pathlib import Path

import adqa_data

PACKAGE = Path(adqa_data.__file__).parent
FORBIDDEN = ("adqa_data.core.workspace", "adqa_data.stages", "adqa_data.cli")


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, as an absolute dotted name."""
    parts = ["adqa_data", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = parts[:-1]  # what a relative import is relative to (for __init__.py: the package itself)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            head = ".".join([*base, node.module] if node.module else base)
            out.append(head)
            out += [f"{head}.{a.name}" for a in node.names]
    return out


def offenders(root: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        bad = [m for m in imported_modules(path) if m.startswith(FORBIDDEN)]
        if bad:
            found[str(path.relative_to(PACKAGE))] = sorted(set(bad))
    return found


def test_train_imports_no_workspace_stage_or_cli():
    assert offenders(PACKAGE / "train") == {}


def test_the_scan_sees_relative_and_lazy_imports():
    """The scan would catch an offender: the train stage itself imports the workspace and a stage."""
    found = offenders(PACKAGE / "stages" / "train")
    assert "adqa_data.core.workspace" in found["stages/train/stage.py"]
    assert "adqa_data.stages.rollout.contract" in found["stages/train/data.py"]
    assert imported_modules(PACKAGE / "train" / "loop.py").count("adqa_data.train.checkpoint") == 1
