"""Equal-weight average of two forecasters' out-of-fold predictions, paired per (seed, fold).

    vatrack forecast-cv --task subtask2a --data $D/subtask2a_forecasting_user_marker.csv --folds 5 --seeds 3 --methods mean-reversion,ridge-notext --out cv/f2a
    .venv/bin/python benchmarks/forecast_ensemble.py cv/f2a ridge-notext mean-reversion

No weight is fitted (a fixed 50/50 average), so there is nothing for held-out rows to leak
into. The r of each member is recomputed from predictions.csv and checked against the run's
per_fold.csv, so the ensemble is scored exactly as forecast-cv scores a method.
"""
import sys

import numpy as np
import pandas as pd

from vatrack.evaluation.stats import paired_bootstrap

folder, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
p = pd.read_csv(f"{folder}/predictions.csv")
pf = pd.read_csv(f"{folder}/per_fold.csv")
target = "state_change" if "state_change_valence" in p.columns else "disposition_change"
dims = ["valence", "arousal"]
def r_avg(g):
    return np.mean([np.corrcoef(g[f"{target}_{d}"], g[f"pred_{target}_{d}"])[0, 1] for d in dims])
rows = []
for (seed, fold), g in p.groupby(["seed", "fold"]):
    ga, gb = g[g.method == a].set_index("user_id"), g[g.method == b].set_index("user_id")
    ens = ga.copy()
    for d in dims:
        ens[f"pred_{target}_{d}"] = (ga[f"pred_{target}_{d}"] + gb.loc[ga.index, f"pred_{target}_{d}"]) / 2
    rows.append({"seed": seed, "fold": fold, a: r_avg(ga), b: r_avg(gb), "ensemble": r_avg(ens)})
t = pd.DataFrame(rows)
check = pf[pf.method == a].set_index(["seed", "fold"])["r_avg"]
assert np.allclose(t.set_index(["seed", "fold"])[a], check.loc[t.set_index(["seed", "fold"]).index], atol=1e-9), "r differs from per_fold.csv"
for m in (a, b, "ensemble"):
    print(f"{m:<16} r avg {t[m].mean():.3f} ± {t[m].std(ddof=1):.3f}")
for ref in (a, b):
    res = paired_bootstrap(t["ensemble"], t[ref])
    print(f"ensemble − {ref}: {res['delta']:+.3f} [{res['ci_low']:+.3f}, {res['ci_high']:+.3f}]"
          f"  better in {(t['ensemble'] > t[ref]).sum()}/{len(t)}")
print("reproduce: .venv/bin/python benchmarks/forecast_ensemble.py " + " ".join(sys.argv[1:]))
