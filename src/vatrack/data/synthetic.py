"""Synthetic diaries in the task's shape, for the demo and the tests.

Each user has a personal baseline (valence, arousal) and mood that drifts as an AR(1)
process around it. Each entry is either a short essay or a few "feeling words"; the words
are drawn from vocabularies tied to the entry's true valence and arousal, with noise, so
a text encoder can recover part of the signal and the user baseline the rest.
Everything is deterministic by seed. No row of the real dataset is used or imitated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vatrack.data.loading import sort_diary
from vatrack.data.schema import SCALES

# Words by (valence band, arousal band); bands: valence neg/neu/pos, arousal low/high.
_WORDS = {
    ("neg", "low"): ["sad", "tired", "lonely", "drained", "gloomy", "down", "empty", "bored"],
    ("neg", "high"): ["angry", "anxious", "stressed", "furious", "panicked", "tense", "nervous", "upset"],
    ("neu", "low"): ["okay", "calm", "quiet", "fine", "still", "sleepy", "steady", "meh"],
    ("neu", "high"): ["busy", "restless", "alert", "rushed", "awake", "wired", "curious", "hurried"],
    ("pos", "low"): ["relaxed", "content", "peaceful", "cozy", "grateful", "rested", "serene", "mellow"],
    ("pos", "high"): ["happy", "excited", "thrilled", "joyful", "energetic", "proud", "elated", "great"],
}
_ACTIVITIES = [
    "went to work", "cleaned the house", "called my sister", "cooked dinner", "went for a walk",
    "stayed home", "watched a movie", "had a long meeting", "played with the kids", "read a book",
    "went shopping", "worked late", "met a friend", "studied for an exam", "fixed the car",
]
_OPENERS = ["Today I feel", "Right now I am", "I have been feeling", "Honestly I feel", "This evening I am"]


def _band(valence: float, arousal: float) -> tuple[str, str]:
    v = "neg" if valence < -0.5 else ("pos" if valence > 0.5 else "neu")
    return v, ("high" if arousal > 1.0 else "low")


def _entry_text(rng, valence, arousal, is_words: bool) -> str:
    # Noise: sometimes the words come from a neighbouring state, as in real self-reports.
    v_seen = valence + rng.normal(0, 0.6)
    a_seen = arousal + rng.normal(0, 0.4)
    words = list(rng.choice(_WORDS[_band(v_seen, a_seen)], size=3, replace=False))
    if is_words:
        return ", ".join(words)
    activity = rng.choice(_ACTIVITIES)
    other = rng.choice(_ACTIVITIES)
    return (
        f"{rng.choice(_OPENERS)} {words[0]} and a bit {words[1]}. I {activity} and then {other}. "
        f"Overall the day left me {words[2]}."
    )


def make_diaries(n_users: int = 60, texts_per_user: tuple[int, int] = (10, 40), seed: int = 0,
                 words_share: float = 0.3) -> pd.DataFrame:
    """A labelled diary table: user_id, text_id, text, timestamp, collection_phase, is_words, valence, arousal."""
    rng = np.random.default_rng(seed)
    rows = []
    text_id = 0
    start = pd.Timestamp("2021-03-01 08:00:00")
    for user in range(1, n_users + 1):
        base_v = float(np.clip(rng.normal(0.4, 0.8), -1.8, 1.8))
        base_a = float(np.clip(rng.normal(1.0, 0.45), 0.1, 1.9))
        persistence = rng.uniform(0.3, 0.8)
        n = int(rng.integers(texts_per_user[0], texts_per_user[1] + 1))
        mood_v, mood_a = 0.0, 0.0
        when = start + pd.Timedelta(days=float(rng.uniform(0, 60)))
        for k in range(n):
            mood_v = persistence * mood_v + rng.normal(0, 0.7)
            mood_a = persistence * mood_a + rng.normal(0, 0.45)
            valence = float(np.clip(np.round(base_v + mood_v), *SCALES["valence"]))
            arousal = float(np.clip(np.round(base_a + mood_a), *SCALES["arousal"]))
            is_words = bool(rng.random() < words_share)
            rows.append({
                "user_id": str(user),
                "text_id": str(text_id),
                "text": _entry_text(rng, base_v + mood_v, base_a + mood_a, is_words),
                "timestamp": when.floor("s"),
                "collection_phase": 1 + k * 3 // max(n, 1),
                "is_words": is_words,
                "valence": valence,
                "arousal": arousal,
            })
            text_id += 1
            when += pd.Timedelta(hours=float(rng.uniform(4, 60)))
    frame = pd.DataFrame(rows)
    frame["collection_phase"] = frame["collection_phase"].astype("Int64")
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    return sort_diary(frame)


def make_official_like(n_users: int = 60, seed: int = 0, unseen_share: float = 0.25,
                       seen_tail_share: float = 0.3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split synthetic diaries like the official task: (train, test with labels and is_seen_user).

    Unseen users are absent from train; seen users keep their earliest texts in train and
    their latest ``seen_tail_share`` in test.
    """
    diaries = make_diaries(n_users=n_users, seed=seed)
    rng = np.random.default_rng(seed + 1)
    users = diaries["user_id"].unique()
    unseen = set(rng.choice(users, size=max(1, int(round(unseen_share * len(users)))), replace=False))
    position = diaries.groupby("user_id").cumcount()
    size = diaries.groupby("user_id")["text_id"].transform("size")
    n_tail = np.maximum(1, np.round(seen_tail_share * size)).astype(int)
    is_unseen = diaries["user_id"].isin(unseen)
    in_test = is_unseen | (position >= size - n_tail)
    train = diaries[~in_test].reset_index(drop=True)
    test = diaries[in_test].assign(is_seen_user=~is_unseen[in_test]).reset_index(drop=True)
    return train, test


def write_csv_like_official(frame: pd.DataFrame, path) -> None:
    """Write a frame with the official column formats (timestamps as 'YYYY-MM-DD HH:MM:SS')."""
    from vatrack.io import write_csv

    out = frame.copy()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    write_csv(path, out)


def make_ema_export(n_people: int = 30, entries: tuple[int, int] = (12, 18), seed: int = 0,
                    unrated_share: float = 0.25) -> pd.DataFrame:
    """A synthetic EMA export as a psychologist's software writes it (for the demo and tests).

    Columns ``participant, entry, date, diary_text, sam_valence, sam_arousal``: SAM ratings
    on 1..9, dates as day-first text (``dd/mm/yyyy HH:MM``), rows in shuffled order, and
    about ``unrated_share`` of the entries without ratings (empty cells).
    """
    diaries = make_diaries(n_users=n_people, texts_per_user=entries, seed=seed)
    rng = np.random.default_rng(seed + 7)
    # SAM 1..9 from the model scale with some rating noise, so ratings use the whole scale.
    sam_v = np.clip(np.round(1 + (diaries["valence"] + 2) * 2 + rng.normal(0, 0.7, len(diaries))), 1, 9)
    sam_a = np.clip(np.round(1 + diaries["arousal"] * 4 + rng.normal(0, 0.7, len(diaries))), 1, 9)
    unrated = rng.random(len(diaries)) < unrated_share
    export = pd.DataFrame({
        "participant": "P" + diaries["user_id"].str.zfill(2),
        "entry": diaries.groupby("user_id").cumcount().to_numpy() + 1,
        "date": diaries["timestamp"].dt.strftime("%d/%m/%Y %H:%M"),
        "diary_text": diaries["text"],
        "sam_valence": pd.array(np.where(unrated, np.nan, sam_v), dtype="Int64"),
        "sam_arousal": pd.array(np.where(unrated, np.nan, sam_a), dtype="Int64"),
    })
    return export.sample(frac=1.0, random_state=seed).reset_index(drop=True)
