"""Matrix factorisation on MovieLens 100K: embedkit (ALS and Adam) against scikit-surprise's SVD, one run.

    python benchmarks/mf_vs_surprise.py            # embedkit on the best device
    python benchmarks/mf_vs_surprise.py --device cpu

Same 80/20 random split for all. Prints test RMSE and fit time of each, and the
time ratio against Surprise's SVD (defaults: 100 factors, 20 epochs of SGD).
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from embedkit import get_device
from embedkit.device import synchronize
from embedkit.mf import BiasedMF, fit_als, fit_sgd
from embedkit.recsys import movielens_100k, random_split, rmse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    device = get_device(args.device)
    from surprise import SVD, Dataset, Reader

    ratings, _ = movielens_100k()
    train, test = random_split(ratings, 0.2, seed=0)
    frame = pd.DataFrame({"user": [train.user_ids[u] for u in train.users.tolist()],
                          "item": [train.item_ids[i] for i in train.items.tolist()], "rating": train.values.numpy()})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    start = time.perf_counter()
    svd = SVD(random_state=0).fit(trainset)
    svd_seconds = time.perf_counter() - start
    svd_rmse = rmse(torch.tensor([svd.predict(train.user_ids[u], train.item_ids[i]).est
                                  for u, i in zip(test.users.tolist(), test.items.tolist())]), test.values)
    rows = [("Surprise SVD (100 factors, SGD)", svd_rmse, svd_seconds)]
    for name, factors, fit in [("embedkit ALS (16 factors)", 16, fit_als), ("embedkit Adam (32 factors)", 32, fit_sgd)]:
        model = BiasedMF(train.n_users, train.n_items, factors=factors)
        fit(model, train, device=device)  # warm-up: first calls pay for kernel set-up
        model = BiasedMF(train.n_users, train.n_items, factors=factors)
        synchronize(device)
        start = time.perf_counter()
        fit(model, train, device=device)
        synchronize(device)
        seconds = time.perf_counter() - start
        rows.append((name, rmse(model.predict(test.users, test.items).cpu(), test.values), seconds))
    print(f"MovieLens 100K, 80/20 split; embedkit on {device}, torch threads {torch.get_num_threads()}")
    print(f"{'':32s} {'test RMSE':>9s} {'fit s':>7s} {'time / Surprise':>16s}")
    for name, error, seconds in rows:
        print(f"{name:32s} {error:9.4f} {seconds:7.2f} {seconds / svd_seconds:15.2f}x")


if __name__ == "__main__":
    main()
