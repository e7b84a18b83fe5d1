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
    assert functions["slug"] == ["io.py"]  # version name -> file name, for caches and plots
    assert "_slug" not in functions

    from vatrack.models import baselines, forecasters

    assert forecasters.RIDGE_ALPHAS is baselines.RIDGE_ALPHAS


def _param_names(func) -> set[str]:
    args = func.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    return names - {"self", "cls"}


def test_the_training_layer_never_reaches_into_what_it_receives():
    """The loop is handed a module, loaders and settings and returns a result: a function in
    training/ reads no private attribute (``x._name``) of an object it receives and sets no
    attribute on one (fit_sequence once drove an estimator's private API and set its net and
    state, a two-way dependency the import rule above cannot see)."""
    import ast

    found = []
    for path in sorted((SRC / "training").rglob("*.py")):
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            params = _param_names(func)
            for node in ast.walk(func):
                if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in params):
                    continue
                where = f"{path.relative_to(SRC)}:{node.lineno} {node.value.id}.{node.attr}"
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    found.append(f"{where}: private attribute of a received object")
                elif isinstance(node.ctx, (ast.Store, ast.Del)):
                    found.append(f"{where}: sets an attribute on a received object")
    assert not found, "\n".join(found)


def test_models_leave_the_training_loop_to_the_training_layer():
    """One loop (vatrack.training.fit_module): no module under models/ imports Lightning, builds
    a Trainer or defines a LightningModule of its own (the sequence forecaster once did all three)."""
    import ast

    found = []
    for path in sorted((SRC / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n == "lightning" or n.startswith(("lightning.", "pytorch_lightning")) for n in names):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} imports Lightning")
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name == "Trainer":
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} builds a Trainer")
            if isinstance(node, ast.ClassDef):
                bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
                if "LightningModule" in bases:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} defines a LightningModule ({node.name})")
    assert not found, "\n".join(found)


def test_reporting_uses_only_public_names_of_other_packages():
    """reporting/ imports no private name (``_x``) from another package and reads none off an
    imported module (analysis.py once took compare.py's ``_slug``): what it needs is public API."""
    import ast

    found = []
    for path in sorted((SRC / "reporting").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = set()  # local names bound to another package's module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vatrack."):
                if node.module.startswith("vatrack.reporting"):
                    continue
                for alias in node.names:
                    if alias.name.startswith("_"):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno} imports {alias.name} from {node.module}")
                    modules.add(alias.asname or alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("vatrack.") and not alias.name.startswith("vatrack.reporting"):
                        modules.add(alias.asname or alias.name.split(".")[0])
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.relative_to(SRC)}:{node.lineno} reads {node.value.id}.{node.attr}")
    assert not found, "\n".join(found)
