"""PCA speed and agreement: embedkit against scikit-learn on the same real data, one run.

    python benchmarks/pca_vs_sklearn.py               # embedkit on the best device
    python benchmarks/pca_vs_sklearn.py --device cpu

Data: the 400,000 x 50 pretrained GloVe matrix, the 943 x 1,682 MovieLens
rating matrix and the 60,000 x 784 Fashion-MNIST training images (the data of
the PCA chapter). Both libraries fit the same number of components with the
same solver in float32; the script prints the seconds of each (median of
--repeats, default 3), the time ratio, and the largest difference in
explained-variance ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.decomposition import PCA as SklearnPCA

from embedkit import get_device
from embedkit.data import load_glove_arrays
from embedkit.images import fashion_mnist, to_float
from embedkit.pca import PCA
from embedkit.recsys import movielens_100k
from embedkit.timing import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    parser.add_argument("--rows", type=int, default=None, help="use only the first ROWS rows of each matrix (quick runs)")
    args = parser.parse_args()
    device = get_device(args.device)
    data = {"GloVe 400k x 50": load_glove_arrays()[1].astype(np.float32),
            "MovieLens 943 x 1682": movielens_100k()[0].matrix().numpy(),
            "Fashion-MNIST 60k x 784": to_float(fashion_mnist("train")[0]).reshape(60_000, -1).numpy()}
    print(f"embedkit on {device}, torch threads {torch.get_num_threads()}")
    print(f"{'data':22s} {'solver':11s} {'k':>3s} {'sklearn s':>10s} {'embedkit s':>11s} {'speed-up':>9s} {'max |dEVR|':>11s}")
    for name, x in data.items():
        x = x[: args.rows]
        k = 50 if x.shape[1] > 100 else 10
        name = f"{name.split()[0]} {len(x):,} x {x.shape[1]:,}" if args.rows else name
        for solver in ["full", "randomized"]:
            reference = SklearnPCA(n_components=k, svd_solver=solver, random_state=0)
            ours = PCA(k, solver=solver, device=device)
            x_device = torch.as_tensor(x).to(device)
            t_ref = measure(lambda: reference.fit(x), repeat=args.repeats)
            t_ours = measure(lambda: ours.fit(x_device), repeat=args.repeats, device=device)
            gap = np.abs(ours.explained_variance_ratio_.cpu().numpy() - reference.explained_variance_ratio_).max()
            print(f"{name:22s} {solver:11s} {k:3d} {t_ref:10.3f} {t_ours:11.3f} {t_ref / t_ours:8.2f}x {gap:11.2e}")


if __name__ == "__main__":
    main()
