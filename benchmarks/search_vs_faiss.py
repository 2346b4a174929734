"""Vector search speed: embedkit against faiss on the same data and parameters, one run.

    python benchmarks/search_vs_faiss.py                          # 1,000 queries, 2 threads, the best device
    python benchmarks/search_vs_faiss.py --device cpu --queries 10000 --repeats 3
    python benchmarks/search_vs_faiss.py --device cuda            # embedkit on the GPU, faiss-cpu on the CPU
    python benchmarks/search_vs_faiss.py --quick                  # 200 queries: a smoke test

Data (the vector-search chapter's): the 400,000 x 50 pretrained GloVe vectors,
cosine (unit rows, then inner product, in both libraries), with 10,000 words drawn
at random (seed 0) held out as queries and the other 390,000 as the database; and
Fashion-MNIST, the 60,000 x 784 training images in [0, 1] as the database and the
10,000 test images as queries, squared L2. ``--queries N`` uses the first N queries.

Exact search: `embedkit.search.exact_search` against faiss's ``IndexFlatIP`` /
``IndexFlatL2``, k = 10: queries per second (QPS, from the median of ``--repeats``
timed runs after one warm-up run) of each and their ratio (goal: at least 1.0 on
a CPU, both are matrix products; on the CPU both multiply with OpenBLAS,
embedkit through numpy, see `embedkit.topk`). The ratio depends on ``--queries``: faiss's flat search is much
slower per query on small batches (GloVe, one thread: about 6 ns per score with
1,000 or 2,048 queries, about 1.2 with 4,096 or 10,000, on the book's machine).
Measured there (2-core AMD EPYC Zen 5, pinned settings of `embedkit.device`,
2 threads, 2026-11-26, runs of this script), exact search: GloVe 4.5x to 5.0x
with 1,000 queries, 0.86x to 1.28x with 10,000 (faiss's time varies most);
Fashion-MNIST 0.93x to 1.08x with 1,000, 0.98x to 1.05x with 10,000. That is
parity, and parity is the ceiling: OpenBLAS's single-precision product ran at
about 128 GFLOP/s per core on these shapes, and on Fashion-MNIST it is over 90%
of either library's time.
IVF-Flat: ``nlist`` lists (GloVe 256, Fashion-MNIST 64) trained by
10 k-means iterations on the same seeded sample of 100 rows per list in both
libraries; ``nprobe`` doubles from 1 until recall@10 against exact search reaches
0.95, for each library separately; the QPS at that ``nprobe`` and the ratio (goal:
at least 0.5). Both libraries use ``--threads`` threads (default 2).

Both libraries' OpenMP threads sleep between parallel regions (``OMP_WAIT_POLICY=PASSIVE``,
set here before they load unless the environment sets it): with the default, the
threads of each library keep spinning after every call and take the cores from the
other's, and from themselves when the machine is busy; embedkit's IVF search, many
small operations, then runs several times slower on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch and faiss load their OpenMP runtimes

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from embedkit import get_device  # noqa: E402
from embedkit.data import load_glove_arrays  # noqa: E402
from embedkit.images import fashion_mnist, to_float  # noqa: E402
from embedkit.search import IVFFlat, exact_search  # noqa: E402
from embedkit.timing import measure  # noqa: E402

K, TARGET = 10, 0.95


def load(n_queries: int, random_glove: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray, str, int]]:
    """Name -> (database, queries, metric, nlist), float32 numpy arrays.

    ``random_glove``: 400,000 x 50 standard normal rows (seed 0) in place of the GloVe vectors (for a machine the
    80 MB of vectors cannot travel to), normalised and split the same way; their row name says "random"."""
    if random_glove:
        glove = np.random.default_rng(0).standard_normal((400_000, 50), dtype=np.float32)
    else:
        glove = load_glove_arrays()[1].astype(np.float32)
    glove /= np.linalg.norm(glove, axis=1, keepdims=True)
    order = np.random.default_rng(0).permutation(len(glove))
    queries, database = glove[order[:10_000]], glove[np.sort(order[10_000:])]
    train = to_float(fashion_mnist("train")[0]).reshape(60_000, -1).numpy()
    test = to_float(fashion_mnist("test")[0]).reshape(10_000, -1).numpy()
    glove_name = f"{'random unit' if random_glove else 'GloVe'} {len(database) // 1000}k x 50 cosine"
    return {glove_name: (database, queries[:n_queries], "ip", 256),
            "Fashion-MNIST 60k x 784 L2": (train, test[:n_queries], "l2", 64)}


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true k nearest found in its row of ``ids``."""
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth)]))


def sweep(search, truth: np.ndarray, nlist: int) -> tuple[int, float]:
    """The smallest power-of-two nprobe (or nlist) whose recall@k reaches TARGET, and that recall."""
    nprobe = 1
    while True:
        reached = recall(search(nprobe), truth)
        if reached >= TARGET or nprobe == nlist:
            return nprobe, reached
        nprobe = min(2 * nprobe, nlist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="embedkit's device (faiss-cpu always runs on the CPU)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs of each (the median is used)")
    parser.add_argument("--queries", type=int, default=1000, help="number of queries (at most 10,000)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of both libraries")
    parser.add_argument("--quick", action="store_true", help="200 queries: checks that the script runs")
    parser.add_argument("--random-glove", action="store_true",
                        help="random unit vectors of GloVe's shape (400,000 x 50, seed 0) instead of GloVe's "
                             "(where the vectors are not installed); the row is named 'random unit ...'")
    args = parser.parse_args()
    device = get_device(args.device)
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    n_queries = 200 if args.quick else min(args.queries, 10_000)
    warmup = 1  # both libraries, every device: single runs right after the other library's varied by up to a third
    print(f"embedkit on {device}, faiss {faiss.__version__} on the CPU, {args.threads} threads each, "
          f"{n_queries:,} queries, k = {K}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    if args.random_glove:
        print("--random-glove: the GloVe rows use random unit vectors of GloVe's shape (400,000 x 50, seed 0)")
    print(f"{'data':30s} {'search':9s} {'embedkit QPS':>12s} {'faiss QPS':>10s} {'ratio':>6s} {'goal':>5s}  detail")
    for name, (database, queries, metric, nlist) in load(n_queries, args.random_glove).items():
        dim = database.shape[1]
        db_t, q_t = torch.from_numpy(database).to(device), torch.from_numpy(queries).to(device)
        flat = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
        flat.add(database)
        ours = exact_search(q_t, db_t, K, metric, device=device)[1].cpu().numpy()
        truth = flat.search(queries, K)[1]  # also faiss's warm-up run, right before its timed runs
        t_faiss = measure(lambda: flat.search(queries, K), args.repeats, 0)
        t_ours = measure(lambda: exact_search(q_t, db_t, K, metric, device=device), args.repeats, warmup, device)
        print(f"{name:30s} {'exact':9s} {n_queries / t_ours:12,.0f} {n_queries / t_faiss:10,.0f} "
              f"{t_faiss / t_ours:6.2f} {'1.0':>5s}  recall of embedkit vs faiss {recall(ours, truth):.4f}")

        sample = database[np.random.default_rng(0).choice(len(database), min(len(database), 100 * nlist), replace=False)]
        index = IVFFlat(nlist, metric, n_iter=10, seed=0, device=device).train(sample).add(db_t)
        fmetric = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        quantizer = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
        reference = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
        reference.cp.niter, reference.cp.seed = 10, 0
        reference.train(sample)
        reference.add(database)

        def faiss_search(nprobe: int) -> np.ndarray:
            reference.nprobe = nprobe
            return reference.search(queries, K)[1]

        def our_search(nprobe: int) -> np.ndarray:
            return index.search(q_t, K, nprobe)[1].cpu().numpy()

        p_ours, r_ours = sweep(our_search, truth, nlist)
        p_faiss, r_faiss = sweep(faiss_search, truth, nlist)
        t_faiss = measure(lambda: faiss_search(p_faiss), args.repeats, warmup)
        t_ours = measure(lambda: index.search(q_t, K, p_ours), args.repeats, warmup, device)
        print(f"{name:30s} {'IVF-Flat':9s} {n_queries / t_ours:12,.0f} {n_queries / t_faiss:10,.0f} "
              f"{t_faiss / t_ours:6.2f} {'0.5':>5s}  nlist {nlist}, nprobe {p_ours} / {p_faiss}, "
              f"recall@{K} {r_ours:.3f} / {r_faiss:.3f}")


if __name__ == "__main__":
    main()
