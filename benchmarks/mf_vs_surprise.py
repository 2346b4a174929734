"""Matrix factorisation on MovieLens 100K: embedkit (ALS and Adam) against scikit-surprise's SVD, one run.

    python benchmarks/mf_vs_surprise.py            # embedkit on the best device
    python benchmarks/mf_vs_surprise.py --device cpu

Same 80/20 random split for all (chapter 6's). Each fits the same model with the size and penalty
chapter 6 chose for it on validation data (`CHAPTER_6`: 32 factors for all three; tests/test_mf.py checks
them against the chapter's stored choice), and with its own library's optimiser settings, as in chapter 6:
ours 10 epochs, Surprise's 20 epochs of SGD at its rate of 0.005. So the time ratio compares the fits that
give chapter 6's results, not equal numbers of epochs. Prints test RMSE and fit time of each, and the time
ratio against Surprise's SVD. Fit times are medians of --repeats runs (default 3).
"""

from __future__ import annotations

import argparse
import torch

from embedkit import get_device
from embedkit.mf import BiasedMF, fit_als, fit_sgd
from embedkit.recsys import movielens_100k, random_split, rmse, surprise_predictions, surprise_trainset
from embedkit.timing import measure

FACTORS = 32
EPOCHS = 10  # ours, as in chapter 6 (the fits' default); Surprise keeps its own 20
CHAPTER_6 = {"ALS": 0.1, "Adam": 0.1, "Surprise SVD": 0.05}  # the penalty chapter 6 chose for each, on validation


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
    svd = SVD(n_factors=FACTORS, reg_all=CHAPTER_6["Surprise SVD"], random_state=0)
    svd_seconds = measure(lambda: svd.fit(trainset), repeat=args.repeats, warmup=0)
    svd_rmse = rmse(surprise_predictions(svd, test), test.values)
    rows = [(f"Surprise SVD ({FACTORS} factors, {svd.n_epochs} epochs)", svd_rmse, svd_seconds)]
    for name, fit in [("ALS", fit_als), ("Adam", fit_sgd)]:
        models = []

        def run() -> None:
            models.append(BiasedMF(train.n_users, train.n_items, factors=FACTORS))
            fit(models[-1], train, epochs=EPOCHS, l2=CHAPTER_6[name], device=device)

        seconds = measure(run, repeat=args.repeats, warmup=1, device=device)  # warm-up: first calls pay for kernel set-up
        model = models[-1]
        rows.append((f"embedkit {name} ({FACTORS} factors, {EPOCHS} epochs)",
                     rmse(model.predict(test.users, test.items).cpu(), test.values), seconds))
    print(f"MovieLens 100K, 80/20 split; embedkit on {device}, torch threads {torch.get_num_threads()}; "
          f"each with the penalty chapter 6 chose for it")
    print(f"{'':38s} {'test RMSE':>9s} {'fit s':>7s} {'time / Surprise':>16s}")
    for name, error, seconds in rows:
        print(f"{name:38s} {error:9.4f} {seconds:7.2f} {seconds / svd_seconds:15.2f}x")


if __name__ == "__main__":
    main()
