"""PCA speed and agreement: embedkit against scikit-learn on the same real data, one run.

    python benchmarks/pca_vs_sklearn.py               # embedkit on the best device
    python benchmarks/pca_vs_sklearn.py --device cpu
    python benchmarks/pca_vs_sklearn.py --device cuda --lowrank --stand-ins   # the GPU machine

Data: the 400,000 x 50 pretrained GloVe matrix, the 943 x 1,682 MovieLens
rating matrix and the 60,000 x 784 Fashion-MNIST training images (the data of
the PCA chapter). Both libraries fit the same number of components with the
same solver in float32; the script prints the seconds of each (median of
--repeats, default 3), the time ratio, and the largest difference in
explained-variance ratio.

``--lowrank`` adds, for the randomised solver, the seconds of
``torch.pca_lowrank`` on embedkit's device with the same sketch (k + 10
columns, as many power iterations) and embedkit's speed-up over it.
``--stand-ins`` replaces a matrix whose data package is not installed by
seeded random data of the same shape (a low-rank signal plus noise), marked
with ``*``: for machines the data cannot travel to.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.decomposition import PCA as SklearnPCA

from embedkit import get_device
from embedkit.data import load_glove_arrays
from embedkit.errors import DataNotFoundError
from embedkit.images import fashion_mnist, to_float
from embedkit.pca import PCA
from embedkit.recsys import movielens_100k
from embedkit.timing import measure


def stand_in(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Random float32 data of shape (n, d) with a decaying spectrum: a rank-64 signal plus a little noise."""
    rng = np.random.default_rng(seed)
    rank = min(d, 64)
    signal = (rng.standard_normal((n, rank), dtype=np.float32) / np.arange(1, rank + 1, dtype=np.float32))
    noise = 0.01 * rng.standard_normal((n, d), dtype=np.float32)
    return signal @ rng.standard_normal((rank, d), dtype=np.float32) + noise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    parser.add_argument("--rows", type=int, default=None, help="use only the first ROWS rows of each matrix (quick runs)")
    parser.add_argument("--lowrank", action="store_true", help="also time torch.pca_lowrank (randomised solver)")
    parser.add_argument("--stand-ins", action="store_true",
                        help="random data of the same shape for a matrix whose data package is missing")
    args = parser.parse_args()
    device = get_device(args.device)
    loaders = {"GloVe 400k x 50": (lambda: load_glove_arrays()[1].astype(np.float32), (400_000, 50)),
               "MovieLens 943 x 1682": (lambda: movielens_100k()[0].matrix().numpy(), (943, 1682)),
               "Fashion-MNIST 60k x 784": (lambda: to_float(fashion_mnist("train")[0]).reshape(60_000, -1).numpy(),
                                           (60_000, 784))}
    data, notes = {}, []
    for name, (load, shape) in loaders.items():
        try:
            data[name] = load()
        except DataNotFoundError:
            if not args.stand_ins:
                raise
            data[name.split()[0] + "* " + " ".join(name.split()[1:])] = stand_in(*shape)
            notes.append(f"* {name.split()[0]}: not installed here; random data of the same shape stand in")
    print(f"embedkit on {device}, torch threads {torch.get_num_threads()}")
    for note in notes:
        print(note)
    extra = f" {'lowrank s':>10s} {'vs lowrank':>10s}" if args.lowrank else ""
    print(f"{'data':22s} {'solver':11s} {'k':>3s} {'sklearn s':>10s} {'embedkit s':>11s} {'speed-up':>9s} {'max |dEVR|':>11s}"
          + extra)
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
            extra = ""
            if args.lowrank:
                lowrank = "-", "-"
                if solver == "randomized":
                    q = k + ours.n_oversamples
                    t_low = measure(lambda: torch.pca_lowrank(x_device, q=q, center=True, niter=ours.n_iter),
                                    repeat=args.repeats, device=device)
                    lowrank = f"{t_low:.3f}", f"{t_low / t_ours:.2f}x"
                extra = f" {lowrank[0]:>10s} {lowrank[1]:>10s}"
            print(f"{name:22s} {solver:11s} {k:3d} {t_ref:10.3f} {t_ours:11.3f} {t_ref / t_ours:8.2f}x {gap:11.2e}" + extra)


if __name__ == "__main__":
    main()
