"""The report of `vatrack track`: everyone's trajectories, per-person statistics, model quality."""

from __future__ import annotations

import re
from pathlib import Path

from vatrack.reporting import plots
from vatrack.reporting.document import Report, fmt, write_report

_STAT_HELP = ("mean and sd of the filled series (the rating where there is one, else the prediction); "
              "rmssd = root mean square of successive differences (instability); autocorr_lag1 = lag-1 "
              "autocorrelation (inertia: how much a state carries over to the next entry); trend_per_week = "
              "least-squares slope per week. A statistic a person has too few entries for is shown as —.")


def _file_name(person: str, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(person)).strip("._") or "person"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def track_report(result, out_dir) -> dict:
    """Write OUT/report.md, OUT/report.html (self-contained) and OUT/plots/*.png for a TrackResult."""
    out_dir = Path(out_dir)
    plot_dir = out_dir / "plots"
    scales = {label: result.format.user_scale(label) for label in ("valence", "arousal")}
    series = result.series()
    meta = result.meta
    report = Report(f"Valence and arousal over time — {Path(str(meta['data'])).name}")
    report.text(f"{meta['entries']} entries of {meta['people']} people, {meta['rated']} with both ratings. "
                f"Predictions: {meta['model']}"
                + (f", rated entries predicted out of fold ({meta['folds']} folds: never by a model that saw "
                   "their own rating)" if meta.get("folds") else "") + ".")
    report.text("Scales: " + "; ".join(f"{d} {lo:g}..{hi:g} (model scale {m[0]:g}..{m[1]:g}, mapped linearly)"
                                       for d, (lo, hi), m in ((d, scales[d], meta["scales"][d]["model"]) for d in scales)),
                kind="note")

    if result.quality is not None:
        report.heading("How well the model did on the rated entries")
        quality = result.quality.copy()
        for column in ("r", "r_within_person", "r_between_people", "mae"):
            quality[column] = quality[column].map(fmt)
        report.table(quality, "out-of-fold, on your scale. The person-mean reference predicts each entry as that "
                              "person's mean rating in the other folds: what the model must beat for the texts to "
                              "add anything. Compare r over all entries and MAE. Within-person r out of fold is "
                              "biased low for any model that uses the person's other ratings (leaving a high "
                              "rating out lowers the mean that predicts it); for the reference it is negative by "
                              "construction and carries no information.")

    report.heading("Everyone's trajectories")
    paths = []
    for dim in ("valence", "arousal"):
        path = plots.everyone_trajectories(series, scales, plot_dir / f"everyone_{dim}.png", dim)
        paths.append(path)
        report.image(path, f"{dim} of every person over time")
    if series["person"].nunique() > 60:
        report.text("The panels show the first 60 people; every person has a plot below.", kind="note")

    report.heading("Per-person statistics")
    report.text(_STAT_HELP, kind="note")
    people = result.people.copy()
    for column in ("mean", "sd", "rmssd", "autocorr_lag1", "trend_per_week"):
        people[column] = people[column].map(lambda v: fmt(v, 2))
    for column in ("first_entry", "last_entry"):
        people[column] = people[column].dt.strftime("%Y-%m-%d")
    report.table(people)

    report.heading("Each person")
    taken: set = set()
    for person, entries in series.groupby("person", sort=False):
        path = plots.person_trajectory(entries, str(person), scales, plot_dir / f"person_{_file_name(person, taken)}.png")
        paths.append(path)
        report.image(path, f"{person}")
    written = write_report(report, out_dir)
    return {**written, "plots": paths}
