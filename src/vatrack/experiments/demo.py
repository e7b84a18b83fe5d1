"""`vatrack demo`: the main jobs end to end on built-in synthetic data, in about two minutes on a laptop CPU.

1. SemEval-shaped diaries (seen and unseen users) → the seed sequence model at demo size and
   the ridge+user baseline, both scored with the official metrics on held-out texts;
2. a psychologist's EMA export (their own column names, SAM ratings 1..9, day-first dates,
   a quarter of the entries unrated, ';'-separated, rows unsorted) → ``vatrack track``.

The demo folder carries a marker file, so ``make demo`` can regenerate its own folder but
never empties a folder the demo did not create (that needs ``--force``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from vatrack.errors import VatrackError

MARKER = ".vatrack-demo"
# v3.3's architecture at a size that trains in seconds on synthetic data.
SEQUENCE = ("v3.3", ("epochs=8", "patience=3", "lstm_hidden=64", "lstm_layers=1", "fusion=[64]", "user_emb=16"))
EMA_COLUMNS = ("user_id=participant", "text_id=entry", "timestamp=date", "text=diary_text",
               "valence=sam_valence", "arousal=sam_arousal")
EMA_SCALES = ("valence=1:9", "arousal=1:9")


def prepare_demo_dir(out, force: bool = False) -> Path:
    """An empty demo folder: a previous demo's folder is regenerated, anything else needs ``force``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VatrackError(f"{out} is a file; choose another `out` for the demo")
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists() and not force:
            raise VatrackError(f"{out} already exists and was not made by the demo; pass `force=True` to empty it "
                               "or choose another `out`")
        if out.resolve() in (Path.cwd().resolve(), Path.home().resolve(), Path("/").resolve()):
            raise VatrackError(f"{out} is the current, home or root folder; choose a folder of its own for the demo")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by `vatrack demo`; the demo regenerates this folder\n", encoding="utf-8")
    return out


def run_demo(out, encoder: str = "minilm", seed: int = 0, on_event: Callable[[str], None] | None = None) -> dict:
    """Run both jobs into ``out`` (prepared by :func:`prepare_demo_dir`); returns paths, scores and the track result."""
    from vatrack.data import make_official_like, parse_format, write_csv_like_official
    from vatrack.data.synthetic import make_ema_export
    from vatrack.evaluation.scoring import score_files
    from vatrack.evaluation.submission import write_submission
    from vatrack.experiments.runs import predict_run, train_run
    from vatrack.experiments.track import run_track, write_track
    from vatrack.io import write_csv
    from vatrack.models import make_model
    from vatrack.protocols import strip_labels

    say = on_event or (lambda message: None)
    out = Path(out)
    train, test = make_official_like(n_users=30, seed=seed)
    data = out / "semeval"
    write_csv_like_official(train, data / "train.csv")
    write_csv_like_official(test.drop(columns=["valence", "arousal"]), data / "test_inputs.csv")
    write_csv(data / "gold.csv", test[["user_id", "text_id", "valence", "arousal", "is_seen_user"]])
    say(f"1/2 SemEval-shaped diaries: {train.user_id.nunique()} users / {len(train)} texts to train, "
        f"{test.user_id.nunique()} users / {len(test)} later or unseen texts to predict ({data})")

    inputs = strip_labels(test)
    baseline = write_submission(make_model("ridge+user", encoder=encoder, seed=seed).fit(train).predict(inputs),
                                "subtask1", out / "ridge+user" / "pred_subtask1.csv",
                                expected_keys=inputs[["user_id", "text_id"]])
    preset, overrides = SEQUENCE
    say(f"training the seed sequence model ({preset} at demo size: {' '.join(overrides)})")
    run = out / "sequence"
    train_run(data / "train.csv", preset, run, encoder=encoder, seed=seed, overrides=list(overrides))
    sequence = predict_run(run, data / "test_inputs.csv", run / "pred_subtask1.csv")
    scores = {"ridge+user": score_files("subtask1", baseline, data / "gold.csv"),
              f"sequence ({preset}, demo size)": score_files("subtask1", sequence, data / "gold.csv")}

    diary = out / "diary.csv"
    export = make_ema_export(n_people=30, entries=(12, 18), seed=seed)
    write_csv(diary, export, sep=";")
    say(f"2/2 an EMA export: {export.participant.nunique()} people, {len(export)} entries, "
        f"{int(export.sam_valence.isna().sum())} unrated, SAM 1..9, day-first dates, ';'-separated ({diary})")
    fmt = parse_format(EMA_COLUMNS, EMA_SCALES, dayfirst=True)
    tracked = run_track(diary, fmt, method="ridge+user", encoder=encoder, seed=seed, on_event=say)
    track_dir = out / "track"
    write_track(tracked, track_dir)
    return {"scores": scores, "track": tracked, "track_dir": track_dir, "diary": diary, "run": run}


def next_command(diary) -> str:
    """The `vatrack track` command for the demo's diary: the one to adapt to your own file."""
    columns = " ".join(f"--column {c}" for c in EMA_COLUMNS)
    scales = " ".join(f"--scale {s}" for s in EMA_SCALES)
    return f"vatrack track --data {diary} {columns} {scales} --dayfirst --out my-track"
