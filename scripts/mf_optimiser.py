"""Chapter 6's three fits with their optimiser settings searched too, on validation data (a check of the chapter).

Chapter 6 chooses the number of factors k and the penalty lambda for three fits of the same model (our ALS,
our Adam, Surprise's SVD) on one validation split, and leaves each fit at its own library's optimiser settings
(ours: 10 epochs, Adam at a rate of 0.01; Surprise: 20 epochs of SGD at a rate of 0.005). This script asks
whether that left one of them behind. On the chapter's split (80/20 by rating with seed 0, then 10% of the
training ratings held out with seed 1) it searches, at k = 32 (k = 4 lost at every setting of a first run) and
the chapter's penalties, the epochs of each fit and the learning rate of the two gradient methods, on the
validation ratings only. Then each method's best setting is refitted on all the training ratings from seeds
0, 1 and 2 and scored once on the test ratings, as the chapter does. Writes every validation score and the
summary to benchmarks/results/mf_optimiser.txt. About 10 minutes on 2 CPU cores (two fits at a time, one core
each; Surprise's fits hold Python's lock and run one at a time).

    .venv/bin/python scripts/mf_optimiser.py
"""

from __future__ import annotations

import itertools
import os
import platform
from datetime import date
from pathlib import Path

os.environ.setdefault("EMBEDKIT_PROGRESS", "0")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from surprise import SVD  # noqa: E402

from embedkit import parallel  # noqa: E402
from embedkit.mf import BiasedMF, fit_als, fit_sgd  # noqa: E402
from embedkit.ratings import Ratings  # noqa: E402
from embedkit.recsys import movielens_100k, random_split, rmse, surprise_predictions, surprise_trainset  # noqa: E402

FACTORS, PENALTIES = 32, (0.02, 0.05, 0.1, 0.2)  # the chapter's penalties and its chosen k
OPTIMISERS = {  # each library's own setting first
    "embedkit ALS": [{"epochs": e} for e in (10, 20, 40, 80, 160)],
    "embedkit Adam": [{"epochs": e, "lr": lr} for e in (10, 40, 80) for lr in (0.01, 0.003, 0.03)],
    "Surprise SVD": [{"n_epochs": e, "lr_all": lr} for e in (20, 40, 80, 160) for lr in (0.005, 0.0025, 0.01)],
}
OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "mf_optimiser.txt"


def score(method: str, l2: float, settings: dict, fit_on: Ratings, scored: Ratings, seed: int = 0) -> float:
    """RMSE on ``scored`` of one method fitted on ``fit_on`` with one setting."""
    if method == "Surprise SVD":
        algorithm = SVD(n_factors=FACTORS, reg_all=l2, random_state=seed, **settings).fit(surprise_trainset(fit_on))
        predicted = surprise_predictions(algorithm, scored)
    else:
        model = BiasedMF(fit_on.n_users, fit_on.n_items, factors=FACTORS, seed=seed)
        fit = fit_als if method == "embedkit ALS" else fit_sgd
        fit(model, fit_on, l2=l2, device="cpu", **settings)
        predicted = model.predict(scored.users, scored.items)
    return rmse(predicted, scored.values)


def main() -> None:
    ratings, _ = movielens_100k()
    train, test = random_split(ratings, test_fraction=0.2, seed=0)
    fit_part, val = random_split(train, test_fraction=0.1, seed=1)
    jobs = [(m, l2, s) for m, options in OPTIMISERS.items() for l2, s in itertools.product(PENALTIES, options)]
    scores = parallel.side_by_side(lambda job: score(*job, fit_part, val), jobs, device="cpu", workers=2)
    results = pd.DataFrame([{"method": m, "l2": l2, "settings": s, "own": s == OPTIMISERS[m][0],
                             "validation RMSE": v} for (m, l2, s), v in zip(jobs, scores)])
    lines = [f"# scripts/mf_optimiser.py, {date.today()}, {platform.processor() or platform.machine()}, "
             f"torch {torch.__version__}; k = {FACTORS}; validation RMSE of every setting, then the best ones"]
    lines += [f"{r.method}, l2 {r.l2}, {r.settings}: validation RMSE {r['validation RMSE']:.4f}"
              for _, r in results.iterrows()]
    for method in OPTIMISERS:
        mine = results[results.method == method]
        for label, part in (("own settings", mine[mine.own]), ("searched", mine)):
            best = part.loc[part["validation RMSE"].idxmin()]
            tests = [score(method, best.l2, best.settings, train, test, seed) for seed in (0, 1, 2)]
            lines.append(f"best, {method}, {label}: l2 {best.l2}, {best.settings}, validation RMSE "
                         f"{best['validation RMSE']:.4f}, test RMSE {np.mean(tests):.4f} (seeds 0-2, "
                         f"{min(tests):.4f} to {max(tests):.4f})")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(line for line in lines if line.startswith(("#", "best"))))


if __name__ == "__main__":
    main()
