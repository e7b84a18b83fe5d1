"""docs/api.md is executed: its Python blocks, in order, in one namespace, in a scratch folder."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_api_doc_runs_end_to_end(tmp_path, monkeypatch, tiny_bert_dir, capsys):
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 6  # load, cv, fit/predict/score, clone, save/load, forecast
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for i, block in enumerate(blocks):
        # The page uses the default MiniLM encoder; the test swaps in the tiny local BERT for speed.
        code = block.replace('encoder="minilm"', f"encoder={str(tiny_bert_dir)!r}")
        exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "composite r V" in out and "pred_valence" in out and "pred_state_change_valence" in out
    assert (tmp_path / "bundle-v3.3" / "model.json").exists() and (tmp_path / "bundle-2a" / "model.json").exists()


def test_every_public_name_of_the_package_is_documented():
    import vatrack

    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in vatrack.__all__ if f"vatrack.{name}" not in text]
    assert missing == []
    for name in vatrack.__all__:
        assert getattr(vatrack, name) is not None
