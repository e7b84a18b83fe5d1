"""Ten surface statistics of a text, the seed's hand-made complement to the encoder vector.

They carry what a mean-pooled sentence vector blurs: how long and how emphatic an entry
is, and how self-focused or negated its wording is. All are cheap, deterministic and
depend on the text alone (no label), so they are safe features for any row.
"""

from __future__ import annotations

import math
import re

import numpy as np

TEXT_STAT_NAMES = (
    "log_chars",         # log(1 + characters)
    "log_words",         # log(1 + words)
    "mean_word_len",     # letters per word
    "log_sentences",     # log(1 + sentence-ending marks, at least one sentence)
    "exclaim_rate",      # '!' per word
    "question_rate",     # '?' per word
    "upper_ratio",       # upper-case share of letters (shouting)
    "first_person",      # share of words that are I / me / my ...
    "negation",          # share of words that negate (not, never, n't ...)
    "type_token",        # distinct words / words (lexical variety)
)

_WORD = re.compile(r"[A-Za-z']+")
_SENTENCE_END = re.compile(r"[.!?]+")
_FIRST_PERSON = frozenset("i me my mine myself i'm im i've ive i'd i'll".split())
_NEGATION = frozenset("not no never nothing nobody none nor neither cannot without".split())


def text_stats(text: str) -> list[float]:
    """The ten statistics of one text, in TEXT_STAT_NAMES order."""
    words = [w.lower() for w in _WORD.findall(text)]
    n_words = len(words)
    per_word = 1.0 / max(n_words, 1)
    letters = [c for c in text if c.isalpha()]
    n_letters = len(letters)
    return [
        math.log1p(len(text)),
        math.log1p(n_words),
        sum(len(w) for w in words) * per_word,
        math.log1p(max(1, len(_SENTENCE_END.findall(text)))),
        text.count("!") * per_word,
        text.count("?") * per_word,
        sum(c.isupper() for c in letters) / max(n_letters, 1),
        sum(w in _FIRST_PERSON for w in words) * per_word,
        sum(w in _NEGATION or w.endswith("n't") for w in words) * per_word,
        len(set(words)) * per_word,
    ]


def text_stats_matrix(texts) -> np.ndarray:
    """float32 (n, 10); identical texts are computed once (feeling-word entries repeat a lot)."""
    memo: dict[str, list[float]] = {}
    rows = []
    for text in texts:
        if text not in memo:
            memo[text] = text_stats(text)
        rows.append(memo[text])
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(TEXT_STAT_NAMES))
