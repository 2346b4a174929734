"""Compression: hand-checked int8 and sign codes, parity with faiss's IndexScalarQuantizer and IndexBinaryFlat, bad input.

faiss runs single-threaded, as in test_search.py (its OpenMP threads otherwise starve torch's).
"""

import faiss
import numpy as np
import pytest
import torch

from embedkit.compress import BinaryIndex, Int8Index, hamming_distances, pack_signs
from embedkit.errors import ShapeError
from embedkit.search import exact_search

faiss.omp_set_num_threads(1)


# -- by hand ---------------------------------------------------------------------------------
def test_int8_by_hand(device):
    x = torch.tensor([[0.0, 10.0], [1.0, 20.0], [0.5, 15.0]])
    index = Int8Index("l2", device=device).train(x)  # ranges [0, 1] and [10, 20]
    codes = index.encode(x)
    assert codes.dtype == torch.uint8 and codes.cpu().tolist() == [[0, 0], [255, 255], [127, 127]]
    # each code decodes to the middle of its step: 0 + 127.5 / 255 * 1 = 0.5, 10 + 127.5 / 255 * 10 = 15
    expected = [[0.5 / 255, 10 + 5 / 255], [255.5 / 255, 20 + 5 / 255], [0.5, 15.0]]
    assert np.allclose(index.decode(codes).cpu().numpy(), expected, rtol=1e-6, atol=0)
    index.add(x)
    assert index.ntotal == 3 and index.dim == 2 and index.bytes_per_vector == 2
    dists, ids = index.search(torch.tensor([[0.5, 15.0]]), 2)
    assert ids.cpu().tolist() == [[2, 0]] and dists.cpu()[0].tolist() == pytest.approx(
        [0.0, (0.5 - 0.5 / 255) ** 2 + (5 - 5 / 255) ** 2], abs=1e-4)  # float32 rounding of |q|^2 = 225.25


def test_sign_codes_by_hand(device):
    codes = pack_signs(torch.tensor([[1.0, -1, 0, 2, -3, 0.5, 0, 0, 1]]), device=device)
    # bits 1 0 0 1 0 1 0 0 | 1: byte 0 = 1 + 8 + 32 = 41, byte 1 = 1 (least significant bit first)
    assert codes.dtype == torch.uint8 and codes.cpu().tolist() == [[41, 1]]
    zero = torch.zeros(1, 2, dtype=torch.uint8)
    for method in ("matmul", "table"):
        assert hamming_distances(codes, zero, method, device=device).cpu().tolist() == [[4]]
    # query (2, 1) has bits 11; a has bits 11, b and c one bit off, d two bits off
    database = torch.tensor([[0.1, 1.0], [1.0, -0.05], [-1.0, 1.0], [-2.0, -1.0]])
    index = BinaryIndex("cosine", device=device).add(database)
    assert index.ntotal == 4 and index.dim == 2 and index.code_bytes == 1
    query = torch.tensor([[2.0, 1.0]])
    scores, ids = index.search(query, 1)
    assert ids.cpu().tolist() == [[0]] and scores.cpu().tolist() == [[0.0]]  # minus the Hamming distance
    # re-scoring the 3 nearest codes by cosine puts b (0.871) before a (0.534)
    scores, ids = index.search(query, 2, rerank=3)
    assert ids.cpu().tolist() == [[1, 0]] and scores.cpu()[0].tolist() == pytest.approx([1.95 / (5 * 1.0025) ** 0.5, 1.2 / (5 * 1.01) ** 0.5])


# -- parity with faiss -----------------------------------------------------------------------
def _faiss_sq(database: np.ndarray, metric: str):
    if metric == "cosine":
        database = database / np.linalg.norm(database, axis=1, keepdims=True)
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    reference = faiss.IndexScalarQuantizer(database.shape[1], faiss.ScalarQuantizer.QT_8bit, fmetric)
    reference.train(database)
    reference.add(database)
    return reference, database


@pytest.mark.parametrize("data, metric", [("glove", "cosine"), ("glove", "l2"), ("fashion", "l2"), ("fashion", "ip")])
def test_int8_matches_faiss_scalar_quantizer(request, data, metric, recall_at_k, device):
    """Codes within one step of faiss's QT_8bit codes, and recall@10 within 0.01 of faiss's."""
    database, queries = request.getfixturevalue(f"{data}_data")
    k = 10
    index = Int8Index(metric, device=device).train(database).add(database)
    reference, prepared = _faiss_sq(database.numpy(), metric)
    codes = index.codes.cpu().numpy()
    theirs = reference.sa_encode(prepared)
    assert codes.shape == theirs.shape and index.bytes_per_vector == database.shape[1] == reference.sa_code_size()
    assert np.abs(codes.astype(int) - theirs.astype(int)).max() <= 1
    assert (codes == theirs).mean() > 0.999  # a code differs only where float rounding straddles a step
    step = index.width.cpu().numpy() / 255
    assert (np.abs(index.decode(index.codes).cpu().numpy() - reference.sa_decode(theirs)) <= step + 1e-5).all()
    assert np.allclose(index.decode(torch.from_numpy(theirs)).cpu().numpy(), reference.sa_decode(theirs), atol=1e-5)

    truth = exact_search(queries, database, k, metric, device="cpu")[1].numpy()
    scores, ids = index.search(queries, k, batch_size=128)
    ours = recall_at_k(ids.cpu().numpy(), truth)
    fq = queries.numpy() / (np.linalg.norm(queries.numpy(), axis=1, keepdims=True) if metric == "cosine" else 1)
    ref_scores, ref_ids = reference.search(np.ascontiguousarray(fq, dtype=np.float32), k)
    assert abs(ours - recall_at_k(ref_ids, truth)) <= 0.01, (ours, recall_at_k(ref_ids, truth))
    assert ours > 0.8
    # the scores are those of the decoded vectors: faiss's within float rounding
    error = np.abs(scores.cpu().numpy() - ref_scores) / np.maximum(1.0, np.abs(ref_scores))
    # (the expanded l2 formula rounds like 1e-7 of |q|^2 + |x|^2: up to ~3e-5 of Fashion's distances)
    assert np.quantile(error, 0.99) < 5e-5 and error.max() < 5e-4, (np.quantile(error, 0.99), error.max())


def test_hamming_matches_faiss_binary_flat(glove_data, device):
    """Sign codes of GloVe (no exact zeros) equal faiss's fvecs2bitvecs; distances equal IndexBinaryFlat's."""
    database, queries = glove_data
    db_codes, q_codes = pack_signs(database, device=device), pack_signs(queries, device=device)
    assert db_codes.shape == (len(database), 7)
    floats, theirs = np.ascontiguousarray(database.numpy()), np.zeros((len(database), 7), dtype=np.uint8)
    faiss.fvecs2bitvecs(faiss.swig_ptr(floats), faiss.swig_ptr(theirs), 50, len(database))
    assert np.array_equal(db_codes.cpu().numpy(), theirs)

    reference = faiss.IndexBinaryFlat(8 * 7)
    reference.add(theirs)
    ref_dists, ref_ids = reference.search(q_codes.cpu().numpy(), 10)
    dists = hamming_distances(q_codes, db_codes, device=device)
    assert dists.dtype == torch.int32 and dists.shape == (len(queries), len(database))
    assert torch.equal(hamming_distances(q_codes[:50], db_codes, "table", device=device), dists[:50])
    # the 10 smallest distances are faiss's, and faiss's ids are at those distances
    assert np.array_equal(dists.topk(10, largest=False).values.cpu().numpy(), ref_dists)
    assert np.array_equal(np.take_along_axis(dists.cpu().numpy(), ref_ids, axis=1), ref_dists)
    # the index's Hamming ranking: the same distances, and in every row the same ids but for ties at the 10th
    scores, ids = BinaryIndex("cosine", device=device).add(database).search(queries, 10)
    assert np.array_equal(-scores.cpu().numpy(), ref_dists)
    all_dists = dists.cpu().numpy()
    for row, (mine, theirs) in enumerate(zip(ids.cpu().numpy(), ref_ids)):
        assert all(all_dists[row, i] == ref_dists[row, -1] for i in set(mine) ^ set(theirs)), row


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_binary_rescoring(glove_data, metric, recall_at_k):
    """Re-scoring the whole database is exact search; re-scoring more candidates raises recall."""
    database, queries = glove_data[0][:5000], glove_data[1][:100]
    index = BinaryIndex(metric, device="cpu").add(database[:2000]).add(database[2000:])  # ids continue
    exact_scores, exact_ids = exact_search(queries, database, 10, metric, device="cpu")
    scores, ids = index.search(queries, 10, rerank=len(database))
    assert torch.equal(ids, exact_ids) and torch.allclose(scores, exact_scores, rtol=1e-5, atol=1e-4)
    recalls = [recall_at_k(index.search(queries, 10, rerank=r)[1].numpy(), exact_ids.numpy()) for r in (None, 10, 200)]
    assert recalls[0] == recalls[1] < recalls[2], recalls  # re-scoring 10 of 10 only re-orders them


# -- bad input -------------------------------------------------------------------------------
def _bad_searches(index, x):
    """The checks both indexes make once they hold the vectors ``x``."""
    with pytest.raises(ShapeError, match="same model"):
        index.search(torch.randn(2, x.shape[1] - 1), 1)
    with pytest.raises(ShapeError, match="same model"):
        index.add(torch.randn(2, x.shape[1] + 1))
    with pytest.raises(ValueError, match="larger than the database"):
        index.search(x[:2], len(x) + 1)
    bad = x[:3].clone()
    bad[1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN.*rows \[1\]"):
        index.add(bad)
    with pytest.raises(ValueError, match="NaN"):
        index.search(torch.full((1, x.shape[1]), float("inf")), 1)
    with pytest.raises(ValueError, match="batch_size"):
        index.search(x[:2], 1, batch_size=0)


def test_int8_bad_input():
    x = torch.randn(100, 8)
    index = Int8Index("ip", device="cpu")
    with pytest.raises(RuntimeError, match=r"not trained.*train\(x\) first"):
        index.search(x[:2], 1)
    with pytest.raises(RuntimeError, match=r"train\(x\) first"):
        index.add(x)
    with pytest.raises(ValueError, match="metric"):
        Int8Index("hamming")
    index.train(x)
    with pytest.raises(RuntimeError, match=r"Int8Index is empty; call add\(x\)"):
        index.search(x[:2], 1)
    _bad_searches(index.add(x), x)
    with pytest.raises(ShapeError, match="uint8"):
        index.decode(torch.zeros(2, 8))


def test_binary_bad_input():
    x = torch.randn(100, 12)
    index = BinaryIndex(device="cpu")
    with pytest.raises(RuntimeError, match=r"BinaryIndex is empty; call add\(x\)"):
        index.search(x[:2], 1)
    _bad_searches(index.add(x), x)
    for rerank in (4, 101, 2.5):
        with pytest.raises(ValueError, match="rerank must be an integer from k=5"):
            index.search(x[:2], 5, rerank=rerank)
    with pytest.raises(ValueError, match="NaN"):
        pack_signs(torch.full((1, 12), float("nan")), device="cpu")
    codes = pack_signs(x, device="cpu")
    with pytest.raises(ShapeError, match="bytes per vector"):
        hamming_distances(codes, torch.zeros(3, 1, dtype=torch.uint8), device="cpu")
    with pytest.raises(ShapeError, match="uint8"):
        hamming_distances(x, x, device="cpu")
    with pytest.raises(ValueError, match="'matmul' or 'table'"):
        hamming_distances(codes, codes, "popcount", device="cpu")
