"""Imports point down the layers of DESIGN.md; metrics stay numpy-only; `import calibclip` stays light."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "calibclip"

# layer -> calibclip subpackages it must never import
FORBIDDEN = {
    "backbones": {"calibration", "composite", "index", "evaluation", "training", "cli", "web", "search", "bench"},
    "datasets": {"backbones", "calibration", "index", "evaluation", "training", "cli", "web", "search", "bench"},
    "calibration": {"evaluation", "training", "cli", "web", "bench"},
    "composite": {"evaluation", "training", "cli", "web", "bench"},
    "index": {"evaluation", "training", "cli", "web", "bench"},
    "evaluation": {"training", "cli", "web", "bench"},
    "training": {"cli", "web", "bench"},
    "llm": {"cli", "web", "bench"},
    "bench": {"cli", "web"},
}


def _calibclip_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("calibclip.") and n.count(".") >= 1}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer):
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        hits = _calibclip_imports(path) & FORBIDDEN[layer]
        if hits:
            bad.append(f"{path.relative_to(PKG)} imports {sorted(hits)}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("module", ["evaluation/metrics.py", "ranking.py"])
def test_metrics_and_ranking_import_numpy_only(module):
    tree = ast.parse((PKG / module).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module)
    roots = {name.split(".")[0] if not name.startswith("calibclip.") else name for name in roots}
    assert roots <= {"numpy", "__future__", "typing", "collections", "math", "dataclasses", "calibclip.ranking"}, roots


def test_import_calibclip_does_not_import_heavy_libraries():
    code = ("import sys, calibclip; heavy = [m for m in ('torch', 'open_clip', 'transformers', 'faiss', 'lmdb') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
