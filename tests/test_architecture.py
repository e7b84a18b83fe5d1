"""docs/architecture.md's rule, checked: a layer imports only from the layers before it."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "vatrack"
# The data flow, first to last (docs/architecture.md); a module may import its own layer too.
LAYERS = ["errors", "io", "progress", "data", "evaluation", "protocols", "features", "encoders", "training", "models",
          "experiments", "reporting", "cli"]


def test_no_layer_imports_a_later_one():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        layer = path.relative_to(SRC).parts[0].removesuffix(".py")
        if layer not in rank:
            continue
        for match in re.finditer(r"^\s*(?:from|import) vatrack\.(\w+)", path.read_text(encoding="utf-8"), re.M):
            if rank.get(match.group(1), -1) > rank[layer]:
                upward.append(f"{path.relative_to(SRC)} imports vatrack.{match.group(1)}")
    assert not upward, "\n".join(upward)


def test_every_package_is_placed_in_a_layer():
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py")} - {"__init__", "__main__"}
    assert packages | modules <= set(LAYERS), sorted((packages | modules) - set(LAYERS))


def _top_level_names(kinds) -> dict[str, list[str]]:
    import ast
    from collections import defaultdict

    defined = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, kinds) and isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, kinds) and isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, kinds) and isinstance(node, ast.FunctionDef):
                names = [node.name]
            else:
                continue
            for name in names:
                defined[name].append(str(path.relative_to(SRC)))
    return defined


def test_one_constant_per_concept():
    """A module-level constant is defined once; later layers import it (two RIDGE_ALPHAS grids drifted apart)."""
    import ast

    constants = {name: where for name, where in _top_level_names((ast.Assign, ast.AnnAssign)).items()
                 if name.isupper() and len(where) > 1}
    assert constants == {}
    functions = _top_level_names((ast.FunctionDef,))
    assert functions["_slug"] == ["experiments/compare.py"]  # version name -> file name, for caches and plots

    from vatrack.models import baselines, forecasters

    assert forecasters.RIDGE_ALPHAS is baselines.RIDGE_ALPHAS
