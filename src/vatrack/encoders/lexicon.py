"""Affect-lexicon features as an encoder: ``lexicon``, alone or combined ("minilm+lexicon").

Sixteen numbers per text, from two lexicons that ship inside their PyPI packages (nothing is
downloaded at run time, no NLTK data is needed):

- VADER (package ``vaderSentiment``, MIT; Hutto & Gilbert 2014): the rule-based scores
  ``compound``, ``pos``, ``neg`` (negation, intensifiers, "but", capitals and "!" included),
  plus two word-level figures from its lexicon: the mean absolute word valence of the matched
  words (an intensity / arousal proxy: "furious" and "ecstatic" are both far from 0) and the
  share of tokens it knows.
- The NRC Word-Emotion Association Lexicon (EmoLex, Mohammad & Turney 2013), as bundled by the
  package ``nrclex`` (code MIT; the lexicon itself is free for research use only, as its
  authors and nrclex say): for each of its ten categories (anger, anticipation, disgust, fear,
  joy, negative, positive, sadness, surprise, trust) the share of the text's tokens associated
  with it, plus the share of tokens it knows. Bag of words, no negation handling. Words are
  looked up as written (lowercased), then without a plural "s" (nrclex's own raw-text path
  lemmatises with TextBlob/WordNet, which needs an NLTK corpus download, so it is not used).

No valence-arousal-dominance lexicon (NRC VAD, Warriner norms) is available as a plain,
light PyPI package with a licence that allows this use, so arousal comes only through VADER's
intensity and the NRC emotion shares (fear, anger, surprise, anticipation).

Scaling. The ridge models share one alpha over every column, and a column's effective penalty
is alpha / its variance, so the lexicon columns need a deliberate scale relative to the
sentence-vector columns. Each raw feature is centred and divided by a fixed spread
(``_CENTRE``, ``_SPREAD``: rounded means and standard deviations measured once on diary texts,
labels unused; fixed constants, so a text's vector never depends on which other texts are
encoded), which gives each column about unit variance, and then multiplied by ``BLOCK_SCALE``
= 0.25, five times the standard deviation of one coordinate of a unit-length 384-dimensional
MiniLM vector (1/sqrt(384) = 0.05; MPNet's 768 coordinates: 0.036). So each lexicon column is
penalised about 25 times less than one sentence-vector coordinate: sixteen dense affect
features against hundreds of diffuse ones. The factor was chosen on development seeds among
1, 5 and 20 (ridge+user, minilm+mpnet+lexicon; the lexicon section of docs/results.md).

Deterministic and cheap (~0.2 ms a text); vectors are kept in memory per process, never
written to disk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from vatrack.errors import VatrackError

LEXICON_NAME = "lexicon"
LEXICON_FEATURES = (
    "vader_compound", "vader_pos", "vader_neg", "vader_intensity", "vader_coverage",
    "nrc_anger", "nrc_anticipation", "nrc_disgust", "nrc_fear", "nrc_joy",
    "nrc_negative", "nrc_positive", "nrc_sadness", "nrc_surprise", "nrc_trust", "nrc_coverage",
)
_NRC_CATEGORIES = tuple(name.removeprefix("nrc_") for name in LEXICON_FEATURES[5:15])

# Rounded mean and standard deviation of each raw feature over the 2,764 diary texts of the
# SemEval-2026 Task 2 training file (texts only, no labels): fixed constants, not refitted.
_CENTRE = np.array([0.25, 0.25, 0.15, 0.4, 0.4,
                    0.035, 0.13, 0.02, 0.04, 0.13, 0.15, 0.2, 0.06, 0.045, 0.13, 0.4])
_SPREAD = np.array([0.7, 0.25, 0.2, 0.1, 0.3,
                    0.08, 0.16, 0.05, 0.09, 0.18, 0.2, 0.25, 0.12, 0.08, 0.17, 0.3])
BLOCK_SCALE = 0.25  # see the module docstring

# Bump when the features or their scaling change (part of the encoder identity).
LEXICON_VERSION = "lexicon-v1"

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_LEXICON_VECTORS: dict[str, np.ndarray] = {}  # text -> scaled vector, per process
_LOADED = None  # (VADER analyser, NRC word -> categories), loaded on first use


def _analyzers():
    """VADER's analyser and the NRC lexicon (word -> categories), loaded once."""
    global _LOADED
    if _LOADED is None:
        try:
            from nrclex.core import NRCLex
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:
            raise VatrackError(f"the lexicon encoder needs the packages vaderSentiment and nrclex: {exc}") from None
        nrc = NRCLex(lexicon_file=None)
        # NRCLex keeps the loaded word -> categories table in __lexicon__ (a plain attribute, no name mangling)
        lexicon = {word: frozenset(cats) for word, cats in nrc.__lexicon__.items()}
        _LOADED = (SentimentIntensityAnalyzer(), lexicon)
    return _LOADED


def _nrc_lookup(word: str, lexicon: dict) -> frozenset | None:
    found = lexicon.get(word)
    if found is None and len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        found = lexicon.get(word[:-1])
    return found


def raw_features(text: str) -> np.ndarray:
    """The sixteen unscaled features of one text (``LEXICON_FEATURES`` order), float64."""
    vader, nrc = _analyzers()
    scores = vader.polarity_scores(text)
    tokens = _TOKEN.findall(text.lower())
    n = len(tokens)
    vader_words = [abs(vader.lexicon[t]) for t in tokens if t in vader.lexicon]
    counts = dict.fromkeys(_NRC_CATEGORIES, 0)
    known = 0
    for token in tokens:
        cats = _nrc_lookup(token, nrc)
        if cats:
            known += 1
            for cat in cats:
                if cat in counts:
                    counts[cat] += 1
    share = (lambda c: c / n) if n else (lambda c: 0.0)
    return np.array([
        scores["compound"], scores["pos"], scores["neg"],
        float(np.mean(vader_words)) / 4.0 if vader_words else 0.0,  # VADER word valences lie in [-4, 4]
        share(len(vader_words)),
        *[share(counts[cat]) for cat in _NRC_CATEGORIES],
        share(known),
    ], dtype=np.float64)


def scaled_features(text: str) -> np.ndarray:
    """``raw_features`` centred, divided by the fixed spreads and times ``BLOCK_SCALE``; float32."""
    return (((raw_features(text) - _CENTRE) / _SPREAD) * BLOCK_SCALE).astype(np.float32)


class LexiconEncoder:
    """The ``lexicon`` encoder: same interface as a TextEncoder (name, identity, dim, encode)."""

    def __init__(self, max_length: int = 128):
        self.name = LEXICON_NAME
        self.max_length = int(max_length)  # unused: whole texts are scored; kept for the interface
        self.dim = len(LEXICON_FEATURES)
        self.identity = f"{LEXICON_VERSION}-x{BLOCK_SCALE:g}"

    def __repr__(self) -> str:
        return f"LexiconEncoder(identity={self.identity!r}, dim={self.dim})"

    def encode(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """float32 array (len(texts), 16); ``progress`` is accepted for the interface."""
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise VatrackError(f"encoder 'lexicon': text at position {i} is {type(text).__name__}, not a string")
            vec = _LEXICON_VECTORS.get(text)
            if vec is None:
                vec = _LEXICON_VECTORS[text] = scaled_features(text)
            out[i] = vec
        return out


__all__ = ["BLOCK_SCALE", "LEXICON_FEATURES", "LEXICON_NAME", "LexiconEncoder", "raw_features", "scaled_features"]
