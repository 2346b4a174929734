"""Search and k-means: hand-checked examples, parity with faiss and scikit-learn on GloVe and Fashion-MNIST,
and bad input.

Two kinds of parity: recall (or objective) bands where each side trains its own centroids, and agreement
within rounding where the reference starts from our starting centroids (k-means) or is handed our trained
ones (IVF-Flat), so that both sides compute the same thing.

faiss runs single-threaded here: its OpenMP threads otherwise spin between calls and
starve torch's on a 2-core machine (every call becomes 10-20x slower).
"""

import os
import threading

import faiss
import numpy as np
import pytest
import torch
from faiss.contrib.inspect_tools import get_invlist
from sklearn.cluster import KMeans

from embedkit.errors import EmptyInputError, ShapeError
from embedkit.kmeans import assign, kmeans, kmeans_plus_plus
from embedkit.pq import IVFPQ
from embedkit.search import IVFFlat, exact_search
from embedkit.topk import matmul_nt, numpy_product_available

faiss.omp_set_num_threads(1)


def _faiss_flat(database: np.ndarray, queries: np.ndarray, k: int, metric: str):
    if metric == "cosine":
        database = database / np.linalg.norm(database, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    index = faiss.IndexFlatL2(database.shape[1]) if metric == "l2" else faiss.IndexFlatIP(database.shape[1])
    index.add(np.ascontiguousarray(database))
    return index.search(np.ascontiguousarray(queries), k)


def _empty_clusters(x: torch.Tensor, init: torch.Tensor, n_iter: int, spherical: bool = False) -> list[int]:
    """How many clusters are empty at each of ``n_iter`` Lloyd iterations from ``init``, by one-iteration runs."""
    centroids, empties = init, []
    for _ in range(n_iter):
        labels = assign(x, centroids, rule="ip" if spherical else "l2")[1]
        empties.append(len(init) - len(labels.unique()))
        centroids = kmeans(x, len(init), n_iter=1, init=centroids, spherical=spherical, device="cpu").centroids
    return empties


# -- by hand ---------------------------------------------------------------------------------
def test_exact_search_by_hand():
    database = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    query = torch.tensor([[2.0, 1.0]])  # inner products 2, 1, 3, -2; squared distances 2, 4, 1, 10
    scores, ids = exact_search(query, database, 2, "ip", device="cpu")
    assert ids.tolist() == [[2, 0]] and scores.tolist() == [[3.0, 2.0]]
    dists, ids = exact_search(query, database, 2, "l2", device="cpu")
    assert ids.tolist() == [[2, 0]] and dists[0].tolist() == pytest.approx([1.0, 2.0])
    cosines, ids = exact_search(query, database, 2, "cosine", device="cpu")
    assert ids.tolist() == [[2, 0]]
    assert cosines[0].tolist() == pytest.approx([3 / 10**0.5, 2 / 5**0.5])
    # one database row per block and one query per block: the running top-k gives the same answer
    blocked = exact_search(query, database, 2, "l2", batch_size=1, database_batch_size=1, device="cpu")
    assert torch.equal(blocked[1], ids)


def test_kmeans_and_ivf_by_hand():
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    centroids, objective = kmeans(x, 2, seed=0, device="cpu")
    assert sorted(centroids.tolist()) == [[0.0, 0.5], [10.0, 0.5]] and objective == pytest.approx(1.0)
    # a starting centroid far from every point loses all its points; it is re-seeded with the farthest point (10, 1)
    centroids, objective = kmeans(x, 2, init=torch.tensor([[0.0, 0.0], [100.0, 100.0]]), device="cpu")
    assert sorted(centroids.tolist()) == [[0.0, 0.5], [10.0, 0.5]] and objective == pytest.approx(1.0)
    index = IVFFlat(2, "l2", device="cpu").train(x).add(x)
    assert index.ntotal == 4 and index.list_sizes().tolist() == [2, 2]
    dists, ids = index.search(torch.tensor([[9.0, 0.0]]), 3, nprobe=1)
    assert ids.tolist() == [[2, 3, -1]]  # the probed list holds two vectors; the third place is empty, as in faiss
    assert dists[0, :2].tolist() == pytest.approx([1.0, 2.0]) and dists[0, 2] == float("inf")
    assert index.search(torch.tensor([[9.0, 0.0]]), 3, nprobe=2)[1].tolist() == [[2, 3, 0]]


# -- parity with faiss -----------------------------------------------------------------------
@pytest.mark.parametrize("data, metric", [("glove", "ip"), ("glove", "cosine"), ("glove", "l2"),
                                          ("fashion", "ip"), ("fashion", "l2")])
def test_exact_search_matches_faiss_flat(request, data, metric):
    database, queries = request.getfixturevalue(f"{data}_data")
    k = 10
    scores, ids = exact_search(queries, database, k, metric, batch_size=128, database_batch_size=4096, device="cpu")
    ref_scores, ref_ids = _faiss_flat(database.numpy(), queries.numpy(), k, metric)
    scores, ids = scores.numpy(), ids.numpy()
    # float32 rounding: relative to the score (ip, cosine), or to |q|^2 + |x|^2 for the expanded l2 formula
    if metric == "l2":
        scale = (queries.pow(2).sum(1, keepdim=True) + database.pow(2).sum(1)[torch.from_numpy(ref_ids)]).numpy()
    else:
        scale = np.maximum(1.0, np.abs(ref_scores))
    assert (np.abs(scores - ref_scores) / scale).max() < 1e-5
    # same neighbours, except that ids whose scores tie with the k-th one (within 1e-6) may swap
    for row, (mine, theirs) in enumerate(zip(ids, ref_ids)):
        for extra, own_scores, own_ids in ((set(mine) - set(theirs), scores[row], mine),
                                           (set(theirs) - set(mine), ref_scores[row], theirs)):
            for i in extra:
                assert abs(own_scores[list(own_ids).index(i)] - own_scores[-1]) <= 1e-6, (row, i)


@pytest.mark.parametrize("data, k", [("glove", 100), ("fashion", 50)])
def test_kmeans_objective_matches_faiss(request, data, k):
    """Best of 3 seeds on each side (single seeds differ by up to 0.9% either way), 20 iterations each."""
    x = request.getfixturevalue(f"{data}_data")[0]
    xn = np.ascontiguousarray(x.numpy())

    def objective(centroids: np.ndarray) -> float:  # both sides measured the same way: faiss assigns to the centroids
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(np.ascontiguousarray(centroids))
        return float(index.search(xn, 1)[0].astype(np.float64).sum())

    ours, theirs = [], []
    for seed in range(3):
        centroids, reported = kmeans(x, k, n_iter=20, seed=seed, device="cpu")
        assert reported == pytest.approx(objective(centroids.numpy()), rel=1e-5)
        ours.append(reported)
        reference = faiss.Kmeans(x.shape[1], k, niter=20, seed=seed)
        reference.train(xn)
        theirs.append(objective(reference.centroids))
    assert abs(min(ours) / min(theirs) - 1) < 0.01, (ours, theirs)


@pytest.mark.parametrize("data, metric, nprobes", [("glove", "ip", (4, 16)), ("fashion", "l2", (2, 8))])
def test_ivf_flat_recall_matches_faiss(request, data, metric, nprobes, recall_at_k):
    """Recall@10 against exact search, nlist=100, the mean of 2 seeds on each side (single seeds vary by ~0.02)."""
    database, queries = request.getfixturevalue(f"{data}_data")
    nlist, k = 100, 10
    truth = exact_search(queries, database, k, metric, device="cpu")[1].numpy()
    ours, theirs = {p: [] for p in nprobes}, {p: [] for p in nprobes}
    for seed in range(2):
        index = IVFFlat(nlist, metric, seed=seed, device="cpu").train(database).add(database)
        assert index.ntotal == len(database) and int(index.list_sizes().sum()) == len(database)
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        quantizer = faiss.IndexFlatL2(database.shape[1]) if metric == "l2" else faiss.IndexFlatIP(database.shape[1])
        reference = faiss.IndexIVFFlat(quantizer, database.shape[1], nlist, fmetric)
        reference.cp.seed = seed
        reference.train(database.numpy())
        reference.add(database.numpy())
        for nprobe in nprobes:
            ours[nprobe].append(recall_at_k(index.search(queries, k, nprobe)[1].numpy(), truth))
            reference.nprobe = nprobe
            theirs[nprobe].append(recall_at_k(reference.search(queries.numpy(), k)[1], truth))
    for nprobe in nprobes:
        assert abs(np.mean(ours[nprobe]) - np.mean(theirs[nprobe])) <= 0.02, (nprobe, ours, theirs)
    assert np.mean(ours[nprobes[1]]) > np.mean(ours[nprobes[0]])  # more lists probed, higher recall


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("start", ["kmeans++", "one far"])
def test_kmeans_agrees_with_sklearn_from_the_same_start(glove_data, dtype, start):
    """Lloyd's algorithm from the same starting centroids on 5,000 GloVe vectors, k=50, 20 iterations: the same
    labels, centroids within rounding (1e-9 in float64, 1e-5 in float32, for coordinates of O(1); seen: 2e-15 and
    2e-6) and the objective equal to scikit-learn's ``inertia_`` (relative 1e-9, 1e-5; seen: 2e-15, 1e-6).

    ``"kmeans++"`` is `kmeans`'s own default start (its k-means++ from the same seed), handed to scikit-learn as
    ``init=``; no cluster empties on the way. ``"one far"`` puts one starting centroid far from all points: it
    is empty in the first iteration and both re-seed it with the point farthest from its centroid (with two or
    more empty clusters at once the two libraries may pair them with the far points in another order).
    ``tol=0`` stops scikit-learn, like `kmeans`, only when no label changes.
    """
    x, k, n_iter = glove_data[0][:5000].to(dtype), 50, 20
    init = kmeans_plus_plus(x, k, torch.Generator().manual_seed(0))
    if start == "one far":
        init[7] = 100.0
        centroids, objective = kmeans(x, k, n_iter=n_iter, init=init, device="cpu")
    else:
        centroids, objective = kmeans(x, k, n_iter=n_iter, seed=0, device="cpu")  # k-means++ inside, as init
    assert _empty_clusters(x, init, n_iter) == [int(start == "one far")] + [0] * (n_iter - 1)
    reference = KMeans(k, init=init.numpy(), n_init=1, algorithm="lloyd", tol=0, max_iter=n_iter).fit(x.numpy())
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert centroids.dtype == dtype
    assert np.array_equal(assign(x, centroids)[1].numpy(), reference.labels_)
    np.testing.assert_allclose(centroids.numpy(), reference.cluster_centers_, rtol=0, atol=tol)
    assert objective == pytest.approx(reference.inertia_, rel=tol)


def test_spherical_kmeans_agrees_with_faiss_from_the_same_start(glove_data):
    """Spherical k-means (unit centroids, points assigned by largest inner product), faiss.Kmeans(spherical=True)
    given our k-means++ start, on 5,000 GloVe vectors, k=50, 20 iterations, float32 (faiss's only type): the
    same labels and centroids within 1e-6 (unit vectors; seen: 1.2e-7, a float32 rounding or two).
    No cluster empties on the way (faiss splits the largest cluster where we re-seed with a far point)."""
    x, k, n_iter = glove_data[0][:5000], 50, 20
    init = kmeans_plus_plus(x, k, torch.Generator().manual_seed(0))
    centroids = kmeans(x, k, n_iter=n_iter, seed=0, spherical=True, device="cpu").centroids
    assert max(_empty_clusters(x, init / init.norm(dim=1, keepdim=True), n_iter, spherical=True)) == 0
    reference = faiss.Kmeans(x.shape[1], k, niter=n_iter, spherical=True)
    reference.train(np.ascontiguousarray(x.numpy()), init_centroids=np.ascontiguousarray(init.numpy()))
    ref_labels = reference.index.search(np.ascontiguousarray(x.numpy()), 1)[1][:, 0]  # its IndexFlatIP
    assert np.array_equal(assign(x, centroids, rule="ip")[1].numpy(), ref_labels)
    np.testing.assert_allclose(centroids.numpy(), reference.centroids, rtol=0, atol=1e-6)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_ivf_flat_agrees_with_faiss_on_our_centroids(glove_data, same_neighbours, faiss_ivf_inputs, metric):
    """faiss.IndexIVFFlat with our trained centroids as its quantiser (IndexFlatL2, or IndexFlatIP for "ip" and
    unit vectors for "cosine"), 20,000 GloVe vectors, nlist=50, 200 queries, k=10, nprobe 1 and 8: the same
    vectors in the same lists, and the same neighbours with scores within float32 rounding: 2e-6 of |q| |x|
    for inner products, of |q|^2 + |x|^2 for "l2" (ours expands |q - x|^2, faiss subtracts first), |x| the
    largest among the query's neighbours. Ids may differ only where scores tie within that."""
    database, queries = glove_data[0], glove_data[1][:200]
    nlist, k, dim = 50, 10, database.shape[1]
    index = IVFFlat(nlist, metric, device="cpu").train(database[:5000]).add(database)
    db, q, quantizer, fmetric = faiss_ivf_inputs(index, database, queries, metric)
    reference = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
    assert reference.is_trained  # a quantiser holding nlist centroids is all an IVF-Flat index needs
    reference.add(db)
    for cell in range(nlist):  # the same vectors in each list, in the same (id) order
        a, b = index.offsets[cell], index.offsets[cell + 1]
        assert np.array_equal(get_invlist(reference.invlists, cell)[0], index.ids[a:b].numpy()), cell
    q_sq, db_sq = (q ** 2).sum(1), (db ** 2).sum(1)
    for nprobe in (1, 8):
        scores, ids = index.search(queries, k, nprobe)
        reference.nprobe = nprobe
        ref_scores, ref_ids = reference.search(q, k)
        x_sq = db_sq[ref_ids].max(axis=1)  # the largest |x|^2 among each query's neighbours
        scale = q_sq + x_sq if metric == "l2" else np.sqrt(q_sq * x_sq)
        same_neighbours(scores.numpy(), ids.numpy(), ref_scores, ref_ids, 2e-6 * scale)


def test_ivf_flat_probing_every_list_is_exact(glove_data):
    database, queries = glove_data[0][:2000], glove_data[1][:50]
    index = IVFFlat(16, "cosine", device="cpu").train(database)
    index.add(database[:1000]).add(database[1000:])  # ids continue across calls
    scores, ids = index.search(queries, 5, nprobe=16)
    exact_scores, exact_ids = exact_search(queries, database, 5, "cosine", device="cpu")
    assert torch.equal(ids, exact_ids) and torch.allclose(scores, exact_scores, atol=1e-6)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_search_any_blocking_matches_a_full_sort(metric):
    """Database blocks in whole chunks of 64 rows (the two-stage selection: many values can still enter the
    top k, then few), with rows left over, or too narrow for chunks (1,000 rows, 7): the neighbours of a
    sort of the whole float64 score matrix."""
    g = torch.Generator().manual_seed(0)
    database, queries = torch.randn(20_000, 16, generator=g), torch.randn(70, 16, generator=g)
    full = queries.double() @ database.double().T
    if metric == "l2":
        full = queries.double().pow(2).sum(1, keepdim=True) - 2 * full + database.double().pow(2).sum(1)
    ref = full.topk(10, dim=1, largest=metric == "ip")
    for batch_size, database_batch_size in [(1024, 32768), (33, 2560), (64, 1000), (70, 7)]:
        scores, ids = exact_search(queries, database, 10, metric, batch_size, database_batch_size, device="cpu")
        assert torch.equal(ids, ref.indices), (batch_size, database_batch_size)
        assert torch.allclose(scores.double(), ref.values, rtol=1e-5, atol=1e-4)


def test_matmul_nt_by_hand_and_against_float64():
    out = matmul_nt(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0], [-1.0, 0.5]]), torch.empty(1, 2))
    assert out.tolist() == [[11.0, 0.0]]
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        a, b = torch.randn(50, 30, generator=g, dtype=dtype), torch.randn(70, 30, generator=g, dtype=dtype)
        out = matmul_nt(a, b, torch.empty(50, 70, dtype=dtype))
        assert torch.allclose(out.double(), a.double() @ b.double().T, rtol=1e-5, atol=1e-5)
    with pytest.raises(ShapeError, match="a \\(m, d\\) and b \\(n, d\\)"):
        matmul_nt(torch.randn(3, 4), torch.randn(5, 3), torch.empty(3, 5))


def test_exact_search_product_uses_torchs_thread_count(monkeypatch):
    """On the CPU the product runs in numpy's OpenBLAS where embedkit can set its threads (`embedkit.topk`): in
    as many Python threads as torch has, each with a one-thread OpenBLAS, and numpy's own setting is back after."""
    import threadpoolctl  # scikit-learn's dependency, pinned: a missing one is a failure, not a skip
    if not numpy_product_available():
        pytest.skip("this numpy's BLAS is not one embedkit drives; the product runs in torch")
    here = os.path.dirname(np.__file__)
    blas = next(lib for lib in threadpoolctl.ThreadpoolController().lib_controllers
                if lib.internal_api == "openblas" and lib.filepath.startswith(here))
    before, seen, matmul = blas.get_num_threads(), [], np.matmul

    def spy(*args, **kwargs):
        seen.append((threading.get_ident(), blas.get_num_threads()))
        return matmul(*args, **kwargs)

    monkeypatch.setattr(np, "matmul", spy)
    threads = torch.get_num_threads()
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            seen.clear()
            exact_search(torch.randn(20, 8), torch.randn(1000, 8), 5, "l2", device="cpu")
            assert len({thread for thread, _ in seen}) == n and {blas_threads for _, blas_threads in seen} == {1}
    finally:
        torch.set_num_threads(threads)
    assert blas.get_num_threads() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_search_on_cuda_matches_cpu(glove_data):
    database, queries = glove_data
    scores, ids = exact_search(queries, database, 10, "l2", database_batch_size=4096, device="cuda")
    assert scores.device.type == "cuda" and ids.device.type == "cuda"
    cpu_scores, cpu_ids = exact_search(queries, database, 10, "l2", device="cpu")
    assert (ids.cpu() == cpu_ids).float().mean() > 0.999
    assert torch.allclose(scores.cpu(), cpu_scores, rtol=1e-4, atol=1e-4)
    index = IVFFlat(100, "ip", device="cuda").train(database).add(database)
    scores, ids = index.search(queries, 10, nprobe=100)
    assert ids.device.type == "cuda"
    assert (ids.cpu() == exact_search(queries, database, 10, "ip", device="cpu")[1]).float().mean() > 0.999


# -- bad input -------------------------------------------------------------------------------
def test_exact_search_bad_input():
    database, queries = torch.randn(50, 8), torch.randn(3, 8)
    with pytest.raises(ShapeError, match="same model"):
        exact_search(torch.randn(3, 7), database, 5, device="cpu")
    with pytest.raises(ShapeError, match="reshape"):
        exact_search(torch.randn(8), database, 5, device="cpu")
    with pytest.raises(ValueError, match="larger than the database"):
        exact_search(queries, database, 51, device="cpu")
    with pytest.raises(ValueError, match="positive"):
        exact_search(queries, database, 0, device="cpu")
    bad = queries.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"NaN.*rows \[1\]"):
        exact_search(bad, database, 5, device="cpu")
    bad = database.clone()
    bad[7, 0] = float("inf")
    with pytest.raises(ValueError, match=r"database vectors contain NaN or infinity, e.g. in rows \[7\]"):
        exact_search(queries, bad, 5, device="cpu")
    with pytest.raises(ValueError, match="metric"):
        exact_search(queries, database, 5, "dot", device="cpu")
    with pytest.raises(EmptyInputError):
        exact_search(torch.empty(0, 8), database, 5, device="cpu")


def test_counts_given_as_bools_are_refused():
    """True is an int in Python: k=True used to search for the top 1, IVFFlat(True) to build one list."""
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="k must be a positive integer, got True"):
        exact_search(x[:2], x, True, device="cpu")
    assert exact_search(x[:2], x, 1, device="cpu")[1].shape == (2, 1)
    with pytest.raises(ValueError, match="nlist must be a positive integer, got True"):
        IVFFlat(True, device="cpu")
    index = IVFFlat(4, device="cpu").train(x).add(x)
    with pytest.raises(ValueError, match="k must be a positive integer, got True"):
        index.search(x[:2], True)
    with pytest.raises(ValueError, match="nprobe must be an integer from 1 to nlist=4, got True"):
        index.search(x[:2], 1, nprobe=True)
    assert index.search(x[:2], 1, nprobe=1)[1].shape == (2, 1)


def test_kmeans_bad_input():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="lower k"):
        kmeans(x, 11, device="cpu")
    with pytest.raises(ValueError, match="k=True clusters"):  # True is an int in Python, not a count
        kmeans(x, True, device="cpu")
    with pytest.raises(ValueError, match="distinct"):
        kmeans(torch.ones(10, 3), 2, device="cpu")
    with pytest.raises(ShapeError, match="one starting centroid"):
        kmeans(x, 2, init=torch.zeros(3, 3), device="cpu")
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        kmeans(x, 2, batch_size=0, device="cpu")
    with pytest.raises(ShapeError, match="same number of columns"):  # was a raw matmul error
        assign(x, torch.zeros(2, 4))
    x[4, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        kmeans(x, 2, device="cpu")


def test_ivf_flat_bad_input():
    """What only IVF-Flat checks; what every IVF index checks is in tests/test_pq.py (`test_ivf_indexes_bad_input`)."""
    x = torch.randn(200, 4)
    with pytest.raises(ValueError, match="lower nlist"):
        IVFFlat(300, device="cpu").train(x)
    index = IVFFlat(8, "ip", device="cpu").train(x)
    with pytest.raises(ValueError, match="NaN"):
        index.add(torch.full((1, 4), float("nan")))
    with pytest.raises(ValueError, match="metric"):
        IVFFlat(8, "hamming")
    with pytest.raises(ValueError, match="nlist"):
        IVFFlat(0)
    with pytest.raises(ValueError, match="batch_size must be a whole number"):  # was range()'s error
        index.add(x).search(x[:2], 1, batch_size=0)
    with pytest.raises(ValueError, match="database_batch_size must be a whole number"):
        exact_search(x[:2], x, 1, database_batch_size=0, device="cpu")


def test_ivf_flat_from_centroids():
    """An index built on another's centroids files and finds every vector as that index does."""
    x = torch.randn(500, 6, generator=torch.Generator().manual_seed(0))
    trained = IVFFlat(8, "ip", device="cpu").train(x).add(x)
    copy = IVFFlat.from_centroids(trained.centroids, "ip", device="cpu").add(x[:200]).add(x[200:])
    assert copy.is_trained and copy.nlist == 8 and torch.equal(copy.list_sizes(), trained.list_sizes())
    for a, b in zip(copy.search(x[:20], 5, nprobe=2), trained.search(x[:20], 5, nprobe=2)):
        assert torch.equal(a, b)
    with pytest.raises(ShapeError, match="same model"):
        copy.add(torch.randn(3, 5))
    with pytest.raises(TypeError, match="IVFFlat only"):
        IVFPQ.from_centroids(trained.centroids)
