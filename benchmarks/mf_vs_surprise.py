"""Matrix factorisation on MovieLens 100K: embedkit (ALS and Adam) against scikit-surprise's SVD, one run.

    python benchmarks/mf_vs_surprise.py            # embedkit on the best device
    python benchmarks/mf_vs_surprise.py --device cpu

Same 80/20 random split for all. Prints test RMSE and fit time of each, and the
time ratio against Surprise's SVD (defaults: 100 factors, 20 epochs of SGD).
Fit times are medians of --repeats runs (default 3).
"""

from __future__ import annotations

import argparse
import torch

from embedkit import get_device
from embedkit.mf import BiasedMF, fit_als, fit_sgd
from embedkit.recsys import movielens_100k, random_split, rmse, surprise_trainset
from embedkit.timing import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    args = parser.parse_args()
    device = get_device(args.device)
    from surprise import SVD

    ratings, _ = movielens_100k()
    train, test = random_split(ratings, 0.2, seed=0)
    trainset = surprise_trainset(train)
    svd = SVD(random_state=0)
    svd_seconds = measure(lambda: svd.fit(trainset), repeat=args.repeats, warmup=0)
    svd_rmse = rmse(torch.tensor([svd.predict(train.user_ids[u], train.item_ids[i]).est
                                  for u, i in zip(test.users.tolist(), test.items.tolist())]), test.values)
    rows = [("Surprise SVD (100 factors, SGD)", svd_rmse, svd_seconds)]
    for name, factors, fit in [("embedkit ALS (16 factors)", 16, fit_als), ("embedkit Adam (32 factors)", 32, fit_sgd)]:
        models = []

        def run() -> None:
            models.append(BiasedMF(train.n_users, train.n_items, factors=factors))
            fit(models[-1], train, device=device)

        seconds = measure(run, repeat=args.repeats, warmup=1, device=device)  # warm-up: first calls pay for kernel set-up
        model = models[-1]
        rows.append((name, rmse(model.predict(test.users, test.items).cpu(), test.values), seconds))
    print(f"MovieLens 100K, 80/20 split; embedkit on {device}, torch threads {torch.get_num_threads()}")
    print(f"{'':32s} {'test RMSE':>9s} {'fit s':>7s} {'time / Surprise':>16s}")
    for name, error, seconds in rows:
        print(f"{name:32s} {error:9.4f} {seconds:7.2f} {seconds / svd_seconds:15.2f}x")


if __name__ == "__main__":
    main()
