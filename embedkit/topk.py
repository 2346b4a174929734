"""The top-k of a matrix product, block by block: the engine of exact search (`embedkit.search`).

`exact_search` scores a block of queries against a block of database rows with
one matrix product, keeps each query's best ``k`` and moves on, so the full
queries x database matrix is never held. Two things decide its speed on a CPU.

**The product.** torch's CPU wheels multiply with Intel's MKL; numpy's wheels
ship OpenBLAS, as faiss's do. On the 2-core AMD EPYC (Zen 5) machine the book
is timed on, MKL's single-precision product (sgemm) ran at about 95 GFLOP/s per
core on Fashion-MNIST's blocks (1,024 queries x 784 dimensions x 32,768 rows),
with or without the pinned settings of `embedkit.device` (``MKL_CBWR=AVX2``):
MKL does not take its AVX-512 path on AMD processors. OpenBLAS's Haswell (AVX2)
kernels, which ``OPENBLAS_CORETYPE=Haswell`` pins for numpy and faiss alike, ran
at about 120, about the speed of faiss's whole search, so with MKL embedkit's
exact search reached only about 0.8x faiss's ``IndexFlatL2`` queries per second.
`matmul_nt` therefore multiplies CPU tensors with numpy's OpenBLAS whenever
threadpoolctl can set that library's thread count: to one, while
`torch.get_num_threads` Python threads share out the rows of the product, so
that a search told to use one thread uses one, and no OpenBLAS thread spins
after a product (its own threads do, for 2^28 clock cycles by default) while
torch's threads select the top k. The setting holds for the whole process while
a product runs (a numpy product in another thread then runs on one core) and is
set back after. numpy works on views of the tensors' memory, nothing is copied.
Elsewhere (GPUs, a numpy built on MKL or Accelerate, no threadpoolctl) it calls
torch. The results differ from MKL's in the last bits
(another order of summation), as they do between thread counts; under the
settings of `embedkit.device` they are the same on every x86-64 CPU.

**The selection.** ``torch.topk`` over each row of a block costs about 1 ns per
score on that machine, as much as the product itself when the vectors have 50
dimensions. `_merge` takes the maximum of each chunk of 64 columns (one pass
over the block) and ranks only the values of chunks whose maximum beats the
row's k-th best so far: a few chunks per row in the first blocks, a few
single values later.

Left out: other dtypes than float32 and float64, heaps fused into the product
(faiss's way, which needs compiled code), and choosing the faster library by
timing both (that would make the results, not only the speed, depend on the
machine's load).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch

from .errors import ShapeError

_CHUNK = 64  # columns per chunk in `_merge`

_lock = threading.Lock()
_state = {"users": 0, "saved": 1}  # products running now, and OpenBLAS's thread count before the first


@lru_cache(maxsize=1)
def _numpy_blas():
    """threadpoolctl's controller of the OpenBLAS that numpy loaded (its wheels keep it in ``numpy.libs``,
    next to ``numpy/``), or None if numpy uses another BLAS or threadpoolctl is missing."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    here = os.path.dirname(np.__file__)
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and lib.filepath.startswith(here):
            return lib
    return None


def numpy_product_available() -> bool:
    """Whether `matmul_nt` multiplies CPU tensors with numpy's OpenBLAS (else with torch)."""
    return _numpy_blas() is not None


@lru_cache(maxsize=4)
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads, thread_name_prefix="embedkit-product")


def _numpy_product(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    """``out = a @ b.T`` by numpy, the rows of ``a`` shared out between `torch.get_num_threads` Python threads,
    each with a one-thread OpenBLAS (set so while any such product runs): OpenBLAS's own threads would spin
    for a while after each product before they sleep, taking a core from torch's next operations."""
    blas = _numpy_blas()
    with _lock:
        if _state["users"] == 0:
            _state["saved"] = blas.get_num_threads()
            blas.set_num_threads(1)
        _state["users"] += 1
    try:  # numpy lets go of the GIL in the product: the threads multiply at once
        a, bt, out = a.numpy(), b.numpy().T, out.numpy()
        bounds = np.linspace(0, len(a), min(torch.get_num_threads(), len(a)) + 1).astype(int)
        parts = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        others = [_pool(len(parts) - 1).submit(np.matmul, a[s], bt, out=out[s]) for s in parts[1:]]
        np.matmul(a[parts[0]], bt, out=out[parts[0]])
        for job in others:
            job.result()
    finally:
        with _lock:
            _state["users"] -= 1
            if _state["users"] == 0:
                blas.set_num_threads(_state["saved"])


def matmul_nt(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, numpy_blas: bool = True) -> torch.Tensor:
    """``out = a @ b.T`` for ``(m, d)`` and ``(n, d)`` matrices.

    ``out`` is a contiguous ``(m, n)`` tensor of the same dtype and device; it is returned. ``numpy_blas=False``
    keeps the product in torch (MKL): for a small product followed by many torch operations (the coarse step
    of an IVF search) the switch gains little, and torch's results there stay as they were.
    """
    if (a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or out.shape != (a.shape[0], b.shape[0])
            or not a.dtype == b.dtype == out.dtype):
        raise ShapeError(f"matmul_nt needs a (m, d) and b (n, d) of one dtype and out (m, n) of it; got "
                         f"{tuple(a.shape)} {a.dtype}, {tuple(b.shape)} {b.dtype}, out {tuple(out.shape)} {out.dtype}.")
    if (numpy_blas and out.device.type == "cpu" and a.dtype in (torch.float32, torch.float64)
            and out.is_contiguous() and numpy_product_available()):
        _numpy_product(a.detach(), b.detach(), out)
        return out
    return torch.mm(a, b.T, out=out)


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    """Squared row norms, without a temporary copy of ``x``."""
    return torch.linalg.vector_norm(x, dim=1).square_()


def _empty(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``like``'s dtype and device. On the CPU numpy allocates it: numpy asks Linux
    for 2 MB pages for large arrays, where torch's 4 kB pages cost a page fault each on first use (about
    50 ms for a 128 MB block of scores on the machine above, a few percent of a search)."""
    if like.device.type == "cpu":
        return torch.from_numpy(np.empty(shape, dtype=torch.empty(0, dtype=like.dtype).numpy().dtype))
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def _empty_best(n: int, k: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An empty running top-``k`` for ``n`` queries: scores -inf (``like``'s dtype and device), ids -1."""
    return (torch.full((n, k), -torch.inf, dtype=like.dtype, device=like.device),
            torch.full((n, k), -1, dtype=torch.long, device=like.device))


def _merge(values: torch.Tensor, ids: torch.Tensor, scores: torch.Tensor, start: int,
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The running top-``k`` of each row, ``(values, ids)`` with values in decreasing order, updated with a block
    of scores whose columns are the ids ``start, start + 1, ...``.

    A block of whole chunks of ``_CHUNK`` columns, at least 4 k chunks, goes in two stages: the maximum of
    each chunk (one pass over the block), then only the values of chunks whose maximum beats the row's k-th
    best so far. While those are many (the first blocks), each row keeps the values of its k chunks of
    largest maximum, which hold its top k (ties aside); later, when few values can still enter, only those
    single values are ranked. ``topk`` over whole rows would cost several passes.
    """
    b, n = scores.shape
    if n % _CHUNK or n < 4 * k * _CHUNK:  # too narrow for chunks: rank everything
        cols = torch.arange(start, start + n, device=scores.device).expand(b, -1)
        top = torch.cat([values, scores], dim=1).topk(k, dim=1)
        return top.values, torch.cat([ids, cols], dim=1).gather(1, top.indices)
    m = n // _CHUNK
    maxes = scores.view(b, m, _CHUNK).amax(dim=2)
    hits = maxes > values[:, -1:]  # chunks that hold a value above the row's k-th best so far
    if int(hits.sum()) > 2 * b * k:  # many: the k chunks of largest maximum
        chunks = maxes.topk(k, dim=1).indices
        rows = (chunks + torch.arange(0, b * m, m, device=scores.device).unsqueeze(1)).flatten()
        top = torch.cat([values, scores.view(b * m, _CHUNK).index_select(0, rows).view(b, -1)], dim=1).topk(k, dim=1)
        pos = (top.indices - k).clamp_min(0)  # place among the new values (< k: an old one)
        cols = chunks.gather(1, pos // _CHUNK) * _CHUNK + pos % _CHUNK + start
        return top.values, torch.where(top.indices < k, ids.gather(1, top.indices.clamp_max(k - 1)), cols)
    row, chunk = hits.nonzero(as_tuple=True)  # few: the single values above the k-th best, row by row
    candidates = scores.view(b * m, _CHUNK).index_select(0, row * m + chunk)
    hit, place = (candidates > values[row, -1:]).nonzero(as_tuple=True)
    if len(hit) == 0:
        return values, ids
    row = row[hit]
    count = torch.bincount(row, minlength=b)
    active = count.nonzero().squeeze(1)
    slot = torch.arange(len(row), device=row.device) - (count.cumsum(0) - count)[row]  # rank within its row
    line = torch.zeros(b, dtype=torch.long, device=row.device)
    line[active] = torch.arange(len(active), device=row.device)
    new_values = torch.full((len(active), int(count.max())), -torch.inf, dtype=scores.dtype, device=scores.device)
    new_ids = torch.zeros(new_values.shape, dtype=torch.long, device=row.device)
    new_values[line[row], slot] = candidates[hit, place]
    new_ids[line[row], slot] = chunk[hit] * _CHUNK + place + start
    top = torch.cat([values[active], new_values], dim=1).topk(k, dim=1)
    values, ids = values.clone(), ids.clone()
    values[active], ids[active] = top.values, torch.cat([ids[active], new_ids], dim=1).gather(1, top.indices)
    return values, ids


def _topk_blocked(
    q: torch.Tensor, database: torch.Tensor, k: int, metric: str, batch_size: int,
    database_batch_size: int, decode=None, numpy_blas: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Larger-is-better top-k of prepared queries against a prepared database, block by
    block.

    ``decode``, when given, turns each block of ``database`` rows (codes) into float
    vectors first. For ``"l2"`` the rows are ranked by ``2 q.x - |x|^2``, which orders
    them as ``-|q - x|^2`` does (``|q|^2`` is the same for every row), and ``|q|^2``
    is subtracted from the k winners only. The database goes block by block (each
    read and decoded once), the queries a batch at a time against each; see `_merge`.
    ``numpy_blas``: as in `matmul_nt`.
    """
    lhs = q * 2 if metric == "l2" else q  # times 2 is exact
    neg_sq = _sq_norms(database).neg_() if metric == "l2" and decode is None else None
    values, ids = _empty_best(len(q), k, q)
    # every block's scores
    buffer = _empty(
        (min(batch_size, len(q)) * min(database_batch_size, len(database)),), q)
    # each block is read (and decoded) once
    for ds in range(0, len(database), database_batch_size):
        block = database[ds:ds + database_batch_size]
        block = block if decode is None else decode(block)
        if metric == "l2":
            sq = (_sq_norms(block).neg_() if neg_sq is None
                  else neg_sq[ds:ds + len(block)])
        chunked = (len(block) // _CHUNK * _CHUNK if len(block) >= 4 * k * _CHUNK
                   else 0)  # then the rest alone
        for qs in range(0, len(q), batch_size):
            rows = slice(qs, qs + batch_size)
            block_q, top_values, top_ids = lhs[rows], values[rows], ids[rows]
            for lo, hi in ((0, chunked), (chunked, len(block))):
                if hi > lo:
                    scores = matmul_nt(
                        block_q, block[lo:hi],
                        buffer[:len(block_q) * (hi - lo)].view(-1, hi - lo),
                        numpy_blas)
                    if metric == "l2":
                        scores.add_(sq[lo:hi])
                    top_values, top_ids = _merge(top_values, top_ids, scores,
                                                 ds + lo, k)
            values[rows], ids[rows] = top_values, top_ids
    if metric == "l2":  # minus the squared distances, clamped at 0 as faiss does
        values = values.sub_(q.pow(2).sum(dim=1, keepdim=True)).clamp_max_(0)
    return values, ids
