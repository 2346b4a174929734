"""Speed-ups of embedkit's GPU path over its own CPU path: the same code and data on both devices, one run.

    python benchmarks/gpu_speedups.py                        # CPU against the best device
    python benchmarks/gpu_speedups.py --quick --device cpu   # tiny sizes, CPU against CPU (a smoke run)

Workloads: matrix factorisation on MovieLens 100K (ALS, 16 factors, and Adam,
32 factors; 10 epochs each), PCA of a 400,000 x 50 matrix (GloVe's shape) and
of the 60,000 x 784 Fashion-MNIST images, one training epoch of SimCLR on
10,000 images and of the dense and convolutional autoencoders on 60,000
images, and exact top-10 search for 1,000 queries among 400,000 vectors.
GloVe and Fashion-MNIST are used where installed; otherwise seeded random data
of the same shape stand in (marked ``*``), since only the shape matters for
speed. Each row prints the median seconds on the CPU (torch's threads: all
cores unless OMP_NUM_THREADS says otherwise; --cpu-repeats runs) and on the
device (--repeats runs), each after one warm-up run, the speed-up, and a
check that both devices computed the same thing (a difference, or an
agreement share for top-k). ``--only`` picks rows by a word of their name.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from embedkit import get_device
from embedkit.errors import DataNotFoundError
from embedkit.timing import measure


def glove_shaped(rows: int) -> tuple[torch.Tensor, bool]:
    """The GloVe vectors (first ``rows``), or seeded random vectors of the same scale; and whether they are real."""
    try:
        from embedkit.data import load_glove_arrays

        return torch.from_numpy(load_glove_arrays()[1][:rows].astype(np.float32)), True
    except DataNotFoundError:
        return torch.randn(rows, 50, generator=torch.Generator().manual_seed(0)) * 0.6, False


def fashion_shaped(rows: int) -> tuple[torch.Tensor, bool]:
    """Fashion-MNIST training images (first ``rows``) as floats in [0, 1], (n, 1, 28, 28), or random ones."""
    from embedkit.images import fashion_mnist, to_float

    try:
        return to_float(fashion_mnist("train")[0][:rows]), True
    except DataNotFoundError:
        images = torch.randint(0, 256, (rows, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
        return to_float(images), False


def workloads(quick: bool):
    """(name, real data?, run(device) -> result, compare(cpu result, device result) -> str)."""
    from embedkit import train
    from embedkit.autoencoder import ConvAutoencoder, DenseAutoencoder, reconstruction_loss
    from embedkit.contrastive import SimCLR, simclr_loss
    from embedkit.mf import BiasedMF, fit_als, fit_sgd
    from embedkit.pca import PCA
    from embedkit.recsys import movielens_100k, random_split, rmse
    from embedkit.search import exact_search

    epochs = 2 if quick else 10
    n_vectors, n_images, n_simclr, n_queries = (40_000, 2_000, 1_000, 100) if quick else (400_000, 60_000, 10_000, 1_000)
    vectors, glove_real = glove_shaped(n_vectors)
    images, fashion_real = fashion_shaped(n_images)
    queries = vectors[-n_queries:].clone()
    found = []
    try:
        ratings = movielens_100k()[0]
        train_set, test_set = random_split(ratings, 0.2, seed=0)
    except DataNotFoundError:
        train_set = None

    def mf(fit, factors):
        def run(device):
            model = BiasedMF(train_set.n_users, train_set.n_items, factors=factors)
            fit(model, train_set, epochs=epochs, device=device)
            return rmse(model.predict(test_set.users, test_set.items).cpu(), test_set.values)
        return run

    def pca(x, k, solver):
        def run(device):
            return PCA(k, solver=solver, device=device).fit(x.to(device)).explained_variance_ratio_.cpu()
        return run

    def epoch(make, loss, x, batch_size):
        def run(device):
            torch.manual_seed(0)
            return train.fit(make(), loss, (x,), epochs=1, batch_size=batch_size, lr=3e-3, device=device)[-1]["train loss"]
        return run

    def search(device):
        return exact_search(queries, vectors, 10, "ip", device=device)[1].cpu()

    difference = lambda a, b: f"|diff| {abs(float(a) - float(b)):.1e}"
    largest = lambda a, b: f"max |dEVR| {float((a - b).abs().max()):.1e}"
    losses = lambda a, b: f"loss {float(a):.4f} / {float(b):.4f}"

    def agreement(a, b):
        share = np.mean([len(set(r) & set(s)) / len(r) for r, s in zip(a.tolist(), b.tolist())])
        return f"same ids {share:.4f}"

    star = lambda real: "" if real else "*"
    if train_set is not None:
        found += [(f"MF ALS, MovieLens 100K, 16 factors, {epochs} epochs", True, mf(fit_als, 16), difference),
                  (f"MF Adam, MovieLens 100K, 32 factors, {epochs} epochs", True, mf(fit_sgd, 32), difference)]
    found += [
        (f"PCA full, {n_vectors:,} x 50 (GloVe{star(glove_real)}), k 10", glove_real, pca(vectors, 10, "full"), largest),
        (f"PCA randomized, {n_images:,} x 784 (Fashion{star(fashion_real)}), k 50", fashion_real,
         pca(images.flatten(1), 50, "randomized"), largest),
        (f"SimCLR epoch, {n_simclr:,} images (Fashion{star(fashion_real)}), batch 256", fashion_real,
         epoch(SimCLR, simclr_loss, images[:n_simclr], 256), losses),
        (f"Dense AE epoch, {n_images:,} images (Fashion{star(fashion_real)}), batch 128", fashion_real,
         epoch(lambda: DenseAutoencoder(784, 16), reconstruction_loss, images, 128), losses),
        (f"Conv AE epoch, {n_images:,} images (Fashion{star(fashion_real)}), batch 128", fashion_real,
         epoch(lambda: ConvAutoencoder(16), reconstruction_loss, images, 128), losses),
        (f"exact top-10, {n_queries:,} queries x {n_vectors:,} (GloVe{star(glove_real)})", glove_real, search, agreement),
    ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="the device to compare with the CPU (default: CUDA, MPS, else CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs on the device (the median is printed)")
    parser.add_argument("--cpu-repeats", type=int, default=1, help="timed runs on the CPU (slow: default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--only", default=None, help="comma-separated words: run only rows whose name has one of them")
    args = parser.parse_args()
    device = get_device(args.device)
    rows = workloads(args.quick)
    if args.only:
        words = [w.strip().lower() for w in args.only.split(",") if w.strip()]
        rows = [row for row in rows if any(w in row[0].lower() for w in words)]
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)
    print(f"embedkit's CPU path (torch threads {torch.get_num_threads()}) against {device} ({name}); "
          f"median of {args.cpu_repeats} (CPU) and {args.repeats} ({device.type}) runs, each after a warm-up run")
    if any(not real for _, real, _, _ in rows):
        print("* random data of the real data's shape (the data package is not installed here)")
    print(f"{'workload':60s} {'cpu s':>8s} {device.type + ' s':>8s} {'speed-up':>9s}   same result on both")
    for title, _, run, compare in rows:
        results = {}

        def timed(where):
            def go():
                results[where] = run(where)
            return go

        t_cpu = measure(timed("cpu"), repeat=args.cpu_repeats, warmup=1)
        t_dev = measure(timed(device), repeat=args.repeats, warmup=1, device=device)
        print(f"{title:60s} {t_cpu:8.3f} {t_dev:8.3f} {t_cpu / t_dev:8.1f}x   {compare(results['cpu'], results[device])}",
              flush=True)


if __name__ == "__main__":
    main()
