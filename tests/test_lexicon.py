"""The ``lexicon`` encoder (VADER + NRC EmoLex features): offline, deterministic, combinable.

Made-up sentences and synthetic diaries only.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from vatrack.data import make_diaries
from vatrack.encoders import LEXICON_FEATURES, ConcatEncoder, LexiconEncoder, get_encoder
from vatrack.encoders import lexicon as lexicon_module
from vatrack.errors import VatrackError

HAPPY = "What a wonderful day, I am so happy and grateful for my friends!"
SAD = "I feel terrible, lonely and sad. Everything went wrong and I cried."
CALM = "I had tea and read a book in the afternoon."


def _column(name: str) -> int:
    return LEXICON_FEATURES.index(name)


def test_positive_and_negative_sentences_score_apart():
    happy, sad = lexicon_module.raw_features(HAPPY), lexicon_module.raw_features(SAD)
    assert happy[_column("vader_compound")] > 0.5 > -0.5 > sad[_column("vader_compound")]
    assert happy[_column("vader_pos")] > sad[_column("vader_pos")]
    assert sad[_column("vader_neg")] > happy[_column("vader_neg")]
    assert happy[_column("nrc_joy")] > sad[_column("nrc_joy")]
    assert sad[_column("nrc_sadness")] > happy[_column("nrc_sadness")]
    # VADER reads negation; the scaled vectors keep the order of the raw compound score
    assert lexicon_module.raw_features("I am not happy.")[_column("vader_compound")] < 0
    enc = get_encoder("lexicon")
    scaled = enc.encode([HAPPY, SAD], progress=False)
    assert scaled[0, _column("vader_compound")] > scaled[1, _column("vader_compound")]


def test_raw_features_stay_in_their_ranges():
    for text in (HAPPY, SAD, CALM, "", "!!!", "ok", "Cats, dogs and birds."):
        raw = lexicon_module.raw_features(text)
        assert raw.shape == (len(LEXICON_FEATURES),) and np.isfinite(raw).all()
        assert -1 <= raw[_column("vader_compound")] <= 1
        assert ((raw[1:] >= 0) & (raw[1:] <= 1)).all()
    assert not lexicon_module.raw_features("").any()  # no tokens: every figure 0
    # a plural finds its singular in the NRC lexicon
    assert lexicon_module.raw_features("gifts")[_column("nrc_coverage")] == 1.0


def test_encoder_shape_dtype_and_scale():
    enc = get_encoder("lexicon")
    assert isinstance(enc, LexiconEncoder) and enc.dim == len(LEXICON_FEATURES) == 16
    assert enc.identity.startswith("lexicon-v")
    vecs = enc.encode([HAPPY, SAD, CALM, ""], progress=False)
    assert vecs.shape == (4, 16) and vecs.dtype == np.float32 and np.isfinite(vecs).all()
    # fixed standardisation times the block scale: no statistics of the batch are used
    raw = np.stack([lexicon_module.raw_features(t) for t in (HAPPY, SAD, CALM, "")])
    expected = (raw - lexicon_module._CENTRE) / lexicon_module._SPREAD * lexicon_module.BLOCK_SCALE
    np.testing.assert_allclose(vecs, expected, rtol=1e-6, atol=1e-7)
    # on the order of a sentence-vector coordinate (a unit 384-d vector: ~0.05), not of raw counts
    assert 0.01 <= lexicon_module.BLOCK_SCALE <= 1 and np.abs(vecs).max() < 10 * lexicon_module.BLOCK_SCALE
    assert enc.encode([], progress=False).shape == (0, 16)
    with pytest.raises(VatrackError, match="position 1 is int"):
        enc.encode(["fine", 3])


def test_deterministic_and_independent_of_the_batch():
    enc = get_encoder("lexicon")
    first = enc.encode([SAD, HAPPY, CALM], progress=False)
    lexicon_module._LEXICON_VECTORS.clear()
    again = get_encoder("lexicon").encode([CALM, HAPPY, SAD], progress=False)
    np.testing.assert_array_equal(first, again[::-1])
    np.testing.assert_array_equal(first[1], enc.encode([HAPPY], progress=False)[0])


def test_needs_no_network_and_no_nltk_data(tmp_path):
    # A fresh interpreter with an empty home, no NLTK data and every socket refused.
    script = textwrap.dedent("""
        import socket
        def refuse(*args, **kwargs):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from vatrack.encoders import get_encoder
        vecs = get_encoder("lexicon").encode(["I love this.", "I hate this."], progress=False)
        assert vecs.shape == (2, 16) and vecs[0, 0] > vecs[1, 0]
        print("ok")
    """)
    env = {"HOME": str(tmp_path), "NLTK_DATA": str(tmp_path / "no-nltk-data"), "PATH": "/usr/bin:/bin",
           "VATRACK_CACHE": str(tmp_path / "cache"), "PYTHONPATH": ":".join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_combines_with_a_transformer_encoder(tiny_bert_dir):
    combined = get_encoder(f"{tiny_bert_dir}+lexicon")
    assert isinstance(combined, ConcatEncoder) and combined.dim == 32 + 16
    assert combined.identity.endswith("+" + get_encoder("lexicon").identity)
    vecs = combined.encode([HAPPY, SAD], progress=False)
    np.testing.assert_array_equal(vecs[:, 32:], get_encoder("lexicon").encode([HAPPY, SAD], progress=False))
    np.testing.assert_array_equal(vecs[:, :32], get_encoder(str(tiny_bert_dir)).encode([HAPPY, SAD], progress=False))


def test_ridge_baseline_and_forecaster_take_the_lexicon(tiny_bert_dir):
    from vatrack.models import make_model
    from vatrack.models.forecasters import make_forecaster

    diaries = make_diaries(n_users=8, seed=2)
    model = make_model("ridge+user", encoder=f"{tiny_bert_dir}+lexicon").fit(diaries)
    pred = model.predict(diaries.drop(columns=["valence", "arousal"]))
    assert len(pred) == len(diaries) and np.isfinite(pred[["pred_valence", "pred_arousal"]].to_numpy()).all()
    lexicon_only = make_model("ridge", encoder="lexicon").fit(diaries).predict(diaries)
    assert len(lexicon_only) == len(diaries)
    forecast = make_forecaster("ridge", "subtask2a", encoder=f"{tiny_bert_dir}+lexicon").fit(diaries).predict(diaries)
    assert len(forecast) == diaries["user_id"].nunique() and not forecast.isna().any().any()


@pytest.mark.slow
def test_ridge_user_cv_with_minilm_plus_lexicon(task_files, tmp_path, capsys):
    out = tmp_path / "cv"
    code, stdout, stderr = run_cli(["cv", "--method", "ridge+user", "--encoder", "minilm+lexicon", "--data",
                                    task_files["train"], "--folds", "2", "--seeds", "1", "--out", out, "-q"], capsys)
    assert code == 0, stderr
    assert "composite" in stdout or "±" in stdout
    per_fold = pd.read_csv(out / "per_fold.csv")
    assert len(per_fold) == 2


def test_sequence_model_frozen_mode_takes_the_lexicon(tiny_bert_dir):
    from vatrack.data import make_official_like
    from vatrack.models.sequence import SequenceRegressor

    train, test = make_official_like(n_users=12, seed=5)
    tiny = dict(name="tiny", lstm_hidden=8, lstm_layers=1, fusion=[16], user_emb=4, epochs=1, patience=1,
                batch_size=32, val_folds=3, lr=3e-3, eval_batch_size=64)
    model = SequenceRegressor(tiny, encoder=f"{tiny_bert_dir}+lexicon", seed=0, val="none").fit(train)
    assert model.state["text_dim"] == 32 + 16
    pred = model.predict(test.drop(columns=["valence", "arousal"]))
    assert len(pred) == len(test) and np.isfinite(pred[["pred_valence", "pred_arousal"]].to_numpy()).all()
