"""Product quantisation: a hand-checked example, parity with faiss on GloVe and Fashion-MNIST, bad input.

Two kinds of parity with faiss: recall bands where each side trains its own codebooks, and agreement within
rounding where faiss is handed our trained codebooks (and coarse centroids), so both sides compute the same thing.
faiss runs single-threaded, as in test_search.py (its OpenMP threads otherwise starve torch's).
"""

import faiss
import numpy as np
import pytest
import torch
from faiss.contrib.inspect_tools import get_invlist

from embedkit.errors import ShapeError
from embedkit.pq import IVFPQ, ProductQuantizer
from embedkit.search import IVFFlat, exact_search

faiss.omp_set_num_threads(1)


def _copy_codebooks(pq: ProductQuantizer, reference: faiss.ProductQuantizer) -> None:
    """Our ``(m, 2**nbits, dim / m)`` centroids into a faiss ProductQuantizer (the same layout, flattened)."""
    assert (reference.M, reference.ksub, reference.dsub) == tuple(pq.centroids.shape)
    faiss.copy_array_to_vector(np.ascontiguousarray(pq.centroids.numpy()).ravel(), reference.centroids)


# -- by hand ---------------------------------------------------------------------------------
def test_pq_by_hand():
    x = torch.tensor([[0.0, 10.0], [1.0, 10.0], [5.0, 20.0], [6.0, 20.0]])
    pq = ProductQuantizer(2, m=2, nbits=1, device="cpu").train(x)  # 2 sub-spaces of 1 number, 2 centroids each
    codes = pq.encode(x)
    assert codes.dtype == torch.uint8 and codes.shape == (4, 2)
    # sub-space 0: k-means on 0, 1, 5, 6 gives 0.5 and 5.5; sub-space 1 holds only 10 and 20, one centroid each
    assert pq.decode(codes).tolist() == [[0.5, 10.0], [0.5, 10.0], [5.5, 20.0], [5.5, 20.0]]
    assert codes[:, 1].tolist() == [0, 0, 1, 1] and codes[0, 0] == codes[1, 0] != codes[2, 0] == codes[3, 0]
    query = torch.tensor([[0.0, 20.0]])
    table = pq.tables(query, "l2")  # (1 query, m=2, 2 centroids): (0 - 0.5)^2, (0 - 5.5)^2; (20 - 10)^2, 0
    assert table.shape == (1, 2, 2) and sorted(table[0, 0].tolist()) == [0.25, 30.25]
    assert table[0, 1].tolist() == [100, 0]
    assert pq.adc(table, codes).tolist() == [[100.25, 100.25, 30.25, 30.25]]
    dists, ids = pq.search(query, codes, 2, "l2")
    assert sorted(ids[0].tolist()) == [2, 3] and dists.tolist() == [[30.25, 30.25]]
    assert pq.adc(pq.tables(query, "ip"), codes).tolist() == [[200, 200, 400, 400]]  # 0 * 0.5 + 20 * 10...
    # IVF-PQ: coarse centroids (0.5, 10) and (5.5, 20); residuals (+-0.5, 0) are coded exactly
    index = IVFPQ(2, m=2, nbits=1, device="cpu").train(x).add(x)
    assert index.list_sizes().tolist() == [2, 2]
    dists, ids = index.search(torch.tensor([[9.0, 20.0]]), 3, nprobe=1)
    assert ids.tolist() == [[3, 2, -1]] and dists[0, :2].tolist() == [9.0, 16.0] and dists[0, 2] == float("inf")


# -- parity with faiss -----------------------------------------------------------------------
@pytest.mark.parametrize("data, metric, m, nprobe", [("fashion", "l2", 8, 4), ("glove", "ip", 5, 8)])
def test_recall_matches_faiss(request, data, metric, m, nprobe, recall_at_k):
    """Recall@10, nbits=8, nlist=64, the mean of 2 seeds on each side (single seeds differ by up to ~0.03)."""
    database, queries = request.getfixturevalue(f"{data}_data")
    k, nlist, dim = 10, 64, database.shape[1]
    truth = exact_search(queries, database, k, metric, device="cpu")[1].numpy()
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    recalls = {name: [] for name in ("pq", "faiss_pq", "ivfpq", "faiss_ivfpq", "reranked")}
    for seed in range(2):
        pq = ProductQuantizer(dim, m, seed=seed, device="cpu").train(database)
        recalls["pq"].append(recall_at_k(pq.search(queries, pq.encode(database), k, metric)[1].numpy(), truth))
        reference = faiss.IndexPQ(dim, m, 8, fmetric)
        reference.pq.cp.seed = seed
        reference.train(database.numpy())
        reference.add(database.numpy())
        recalls["faiss_pq"].append(recall_at_k(reference.search(queries.numpy(), k)[1], truth))

        index = IVFPQ(nlist, m, metric, keep_vectors=True, seed=seed, device="cpu").train(database).add(database)
        assert index.ntotal == len(database) and index.codes.shape == (len(database), m)
        recalls["ivfpq"].append(recall_at_k(index.search(queries, k, nprobe)[1].numpy(), truth))
        recalls["reranked"].append(recall_at_k(index.search(queries, k, nprobe, rerank=100)[1].numpy(), truth))
        quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
        reference = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, fmetric)  # by_residual, as ours
        reference.cp.seed = reference.pq.cp.seed = seed
        reference.train(database.numpy())
        reference.add(database.numpy())
        reference.nprobe = nprobe
        recalls["faiss_ivfpq"].append(recall_at_k(reference.search(queries.numpy(), k)[1], truth))
    mean = {name: float(np.mean(r)) for name, r in recalls.items()}
    assert abs(mean["pq"] - mean["faiss_pq"]) <= 0.02, recalls
    assert abs(mean["ivfpq"] - mean["faiss_ivfpq"]) <= 0.02, recalls
    assert mean["reranked"] > mean["ivfpq"] + 0.3, recalls  # 100 ADC candidates re-scored exactly


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pq_agrees_with_faiss_on_our_codebooks(glove_data, same_neighbours, metric):
    """faiss.IndexPQ holding our codebooks (m=5 sub-spaces of 10 numbers, 256 centroids each, trained on 5,000
    GloVe vectors), 20,000 vectors encoded, 200 queries: the same codes (>= 99.99%: a sub-vector equally near
    two centroids may go either way), the same ADC look-up tables and ADC scores of every code (relative 1e-5
    of max(1, |score|): float32 sums of 5 rounded entries), and the same top 10 by ADC, ids aside from ties."""
    database, queries = glove_data[0], glove_data[1][:200]
    dim, m, k = database.shape[1], 5, 10
    pq = ProductQuantizer(dim, m, n_iter=10, device="cpu").train(database[:5000])
    codes = pq.encode(database)
    db, q = np.ascontiguousarray(database.numpy()), np.ascontiguousarray(queries.numpy())
    reference = faiss.IndexPQ(dim, m, 8, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    _copy_codebooks(pq, reference.pq)
    reference.is_trained = True
    reference.add(db)
    ref_codes = faiss.vector_to_array(reference.codes).reshape(-1, m)
    assert (ref_codes == codes.numpy()).all(axis=1).mean() >= 0.9999
    ref_tables = np.empty((len(q), m, pq.ksub), dtype=np.float32)
    compute = reference.pq.compute_distance_tables if metric == "l2" else reference.pq.compute_inner_prod_tables
    compute(len(q), faiss.swig_ptr(q), faiss.swig_ptr(ref_tables))
    tables = pq.tables(queries, metric)
    np.testing.assert_allclose(tables.numpy(), ref_tables, rtol=1e-5, atol=1e-5)
    # every code's ADC score: ours, and faiss's tables summed at faiss's codes
    ref_adc = sum(ref_tables[:, j, ref_codes[:, j]] for j in range(m))
    adc = pq.adc(tables, codes).numpy()
    assert (np.abs(adc - ref_adc) <= 1e-5 * np.maximum(1, np.abs(ref_adc))).all()
    scores, ids = pq.search(queries, codes, k, metric)
    ref_scores, ref_ids = reference.search(q, k)
    same_neighbours(scores.numpy(), ids.numpy(), ref_scores, ref_ids,
                    1e-5 * np.maximum(1, np.abs(ref_scores).max(axis=1)))


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_ivfpq_agrees_with_faiss_on_our_centroids_and_codebooks(glove_data, same_neighbours, faiss_ivf_inputs, metric):
    """faiss.IndexIVFPQ (by_residual, as ours for every metric) with our coarse centroids as its quantiser and
    our PQ codebooks of the residuals, nlist=64, m=5, trained on 5,000 GloVe vectors, 20,000 added ("cosine":
    unit vectors, inner product): the same ids in each list, the same residual codes (>= 99.99%, ties aside),
    and at nprobe 1 and 8 the same top 10, scores within 1e-5 of max(1, |score|), ids aside from ties.
    faiss precomputes its "l2" tables, as after its own training (|q - c|^2 + |r|^2 + 2<c, r> - 2<q, r>, where
    ours tabulates q - c): the same sum, rounded differently."""
    database, queries = glove_data[0], glove_data[1][:200]
    dim, nlist, m, k = database.shape[1], 64, 5, 10
    index = IVFPQ(nlist, m, metric, pq_iter=10, device="cpu").train(database[:5000]).add(database)
    db, q, quantizer, fmetric = faiss_ivf_inputs(index, database, queries, metric)
    reference = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, fmetric)
    assert reference.by_residual
    _copy_codebooks(index.pq, reference.pq)
    reference.is_trained = True
    reference.precompute_table()  # what faiss's train ends with
    reference.add(db)
    same_codes = []
    for cell in range(nlist):
        ref_ids, ref_codes = get_invlist(reference.invlists, cell)
        a, b = index.offsets[cell], index.offsets[cell + 1]
        assert np.array_equal(ref_ids, index.ids[a:b].numpy()), cell  # the same vectors, in the same (id) order
        same_codes.append((ref_codes == index.codes[a:b].numpy()).all(axis=1))
    assert np.concatenate(same_codes).mean() >= 0.9999
    for nprobe in (1, 8):
        scores, ids = index.search(queries, k, nprobe)
        reference.nprobe = nprobe
        ref_scores, ref_ids = reference.search(q, k)
        same_neighbours(scores.numpy(), ids.numpy(), ref_scores, ref_ids,
                        1e-5 * np.maximum(1, np.abs(ref_scores).max(axis=1)))


@pytest.mark.parametrize("metric", ["ip", "l2", "cosine"])
def test_rerank_of_the_whole_database_is_exact(glove_data, metric):
    database, queries = glove_data[0][:2000], glove_data[1][:50]
    index = IVFPQ(16, 5, metric, keep_vectors=True, device="cpu").train(database).add(database)
    scores, ids = index.search(queries, 10, nprobe=16, rerank=len(database))
    exact_scores, exact_ids = exact_search(queries, database, 10, metric, device="cpu")
    assert torch.allclose(scores, exact_scores, rtol=1e-5, atol=1e-4)
    assert torch.equal(ids, exact_ids)  # the same neighbours in the same order (no two exact scores tie here)
    assert (index.search(queries, 10, nprobe=16)[1] == exact_ids).float().mean() < 0.9  # ADC alone is not exact


# -- bad input -------------------------------------------------------------------------------
def test_pq_bad_input():
    x = torch.randn(300, 8)
    with pytest.raises(ValueError, match=r"dim=8 is not divisible by m=3; pick m among \[1, 2, 4, 8\]"):
        ProductQuantizer(8, 3)
    with pytest.raises(ValueError, match="from 1 to 8"):
        ProductQuantizer(8, 2, nbits=9)
    pq = ProductQuantizer(8, 2, device="cpu")
    with pytest.raises(RuntimeError, match=r"not trained.*train\(x\) first"):
        pq.encode(x)
    with pytest.raises(ValueError, match="at least 2\\*\\*nbits=256 vectors"):
        pq.train(x[:100])
    pq.train(x)
    with pytest.raises(ShapeError, match="same model"):
        pq.encode(torch.randn(3, 7))
    with pytest.raises(ShapeError, match="same model"):
        pq.tables(torch.randn(3, 7))
    with pytest.raises(ValueError, match="'l2' or 'ip'"):
        pq.tables(x[:3], "cosine")
    with pytest.raises(ShapeError, match=r"\(n, m=2\)"):
        pq.decode(torch.zeros(3, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="another quantiser"):
        pq.decode(torch.full((3, 2), 300))
    with pytest.raises(ValueError, match="larger than the database"):
        pq.search(x[:3], pq.encode(x[:5]), 6)
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        pq.search(x[:3], pq.encode(x[:5]), 2, batch_size=0)


@pytest.mark.parametrize("make", [lambda: IVFFlat(4, "ip", device="cpu"), lambda: IVFPQ(4, 2, "ip", device="cpu")],
                         ids=["IVFFlat", "IVFPQ"])
def test_ivf_indexes_bad_input(make):
    """What every IVF index checks: searched or filled before training, searched while empty, nprobe out of range,
    another dimension, k larger than the database."""
    x = torch.randn(400, 8)
    index = make()
    with pytest.raises(RuntimeError, match=r"index is not trained.*train\(x\) first"):
        index.search(x[:2], 1)
    with pytest.raises(RuntimeError, match="not trained"):
        index.add(x)
    index.train(x)
    with pytest.raises(RuntimeError, match=r"empty; call add\(x\)"):
        index.search(x[:2], 1)
    index.add(x)
    for nprobe in (0, 5):
        with pytest.raises(ValueError, match="nprobe must be an integer from 1 to nlist=4"):
            index.search(x[:2], 1, nprobe=nprobe)
    with pytest.raises(ShapeError, match="same model"):
        index.search(torch.randn(2, 5), 1)
    with pytest.raises(ValueError, match="larger than the database"):
        index.search(x[:2], 401)


def test_ivfpq_bad_input():
    """What only IVF-PQ checks (the rest: `test_ivf_indexes_bad_input`)."""
    x = torch.randn(400, 8)
    with pytest.raises(ValueError, match="not divisible"):
        IVFPQ(4, 3, device="cpu").train(x)
    with pytest.raises(ValueError, match="metric"):
        IVFPQ(4, 2, "hamming")
    with pytest.raises(ValueError, match="m must be"):
        IVFPQ(4, 0)
    index = IVFPQ(4, 2, "ip", device="cpu").train(x).add(x)
    with pytest.raises(RuntimeError, match="keep_vectors=True"):
        index.search(x[:2], 5, rerank=50)
    kept = IVFPQ(4, 2, keep_vectors=True, device="cpu").train(x).add(x)
    for rerank in (4, 401):
        with pytest.raises(ValueError, match="rerank must be an integer from k=5"):
            kept.search(x[:2], 5, rerank=rerank)
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        kept.search(x[:2], 5, batch_size=-1)
