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
