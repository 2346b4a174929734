"""Nearest-neighbour search: exact (brute force, blocked) and approximate by an inverted file (IVF-Flat).

Three metrics, as in faiss: ``"ip"`` (inner product, larger is closer),
``"cosine"`` (the inner product of unit vectors) and ``"l2"`` (squared Euclidean
distance, smaller is closer, as faiss's ``IndexFlatL2`` reports it).

- `exact_search` scores a block of queries against a block of the database at
  a time and keeps a running top-k per query, so the full queries x database
  matrix is never held in memory (`embedkit.topk`, which also says why the CPU
  product runs in numpy's OpenBLAS).
- `IVFFlat` (Sivic and Zisserman 2003; Jegou, Douze and Schmid 2011) clusters the
  database with `embedkit.kmeans.kmeans` (the coarse quantiser), files each
  vector in the inverted list of its nearest centroid, and searches only the
  ``nprobe`` lists whose centroids are nearest to the query. As in faiss, for
  ``"ip"`` and ``"cosine"`` the k-means is spherical (unit centroids, points
  assigned by largest inner product) and vectors go to the list of largest
  inner product; training runs 10 k-means iterations by default.

Scores come back as ``(n_queries, k)`` tensors (best first) with int64 row ids,
on the computing device. Where fewer than ``k`` vectors sit in the probed lists,
the missing places hold id -1 and score -inf (``"l2"``: +inf), like faiss's -1.

`IVFFlat.from_centroids` builds an index on centroids trained elsewhere, so that
several processes can fill indexes that share one coarse quantiser (`embedkit.shard`).

Left out: product quantisation (PQ, IVF-PQ; in `embedkit.pq`) and other compression
(in `embedkit.compress`), graph indexes (HNSW), removing vectors, custom ids, and
saving an index to disk.
"""

from __future__ import annotations


import torch

from .device import get_device
from .errors import check_positive, check_whole, is_whole
from .kmeans import Vectors, _unit, check_vectors, kmeans, squared_distances
from .topk import _empty_best, _topk_blocked

METRICS = ("ip", "cosine", "l2")


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}.")
    return metric


def _check_k(k: int, n: int) -> None:
    if not is_whole(k) or k < 1:  # True is an int, not a count
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if k > n:
        raise ValueError(f"k={k} is larger than the database ({n} vectors); ask for k <= {n} or add vectors.")


def check_queries(q: torch.Tensor, metric: str) -> torch.Tensor:
    """``q`` itself, unless the metric is cosine and a query is all zeros: a ValueError then (a zero vector has no
    direction; every cosine with it is 0, and its top k would be arbitrary rows)."""
    if metric == "cosine":
        zero = ~q.any(dim=1)
        if bool(zero.any()):
            raise ValueError(f"query rows {torch.nonzero(zero).flatten()[:5].tolist()} are all zeros: every cosine "
                             "with them is 0, so their top k would be arbitrary. Drop them, or use metric='ip'.")
    return q


def _scores(q: torch.Tensor, block: torch.Tensor, metric: str, block_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Larger-is-better scores of queries against a block: inner products, or minus squared distances."""
    if metric == "l2":
        return squared_distances(q, block, block_sq).neg_()
    return q @ block.T


def _merge(best: tuple[torch.Tensor, torch.Tensor], scores: torch.Tensor, ids: torch.Tensor,
           k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The running top-k (scores, ids) updated with a new block of scores whose columns are ``ids``."""
    top = scores.topk(min(k, scores.shape[1]), dim=1)
    all_scores = torch.cat([best[0], top.values], dim=1)
    all_ids = torch.cat([best[1], ids[top.indices] if ids.ndim == 1 else ids.gather(1, top.indices)], dim=1)
    top = all_scores.topk(k, dim=1)
    return top.values, all_ids.gather(1, top.indices)


def _finish(best: tuple[torch.Tensor, torch.Tensor], metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    scores, ids = best
    return (scores.neg().add_(0.0) if metric == "l2" else scores), ids  # + 0.0 turns -0.0 into 0.0


def _rescore(q: torch.Tensor, vectors: torch.Tensor, rows: torch.Tensor, k: int,
             metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The best ``k`` of each query's candidate ``rows`` of ``vectors`` (-1: none) by exact larger-is-better
    scores (``"l2"``: minus squared distances), a few queries at a time: ``(scores, rows)``."""
    exact = torch.empty(rows.shape, dtype=q.dtype, device=q.device)
    step = max(1, 2 ** 22 // (rows.shape[1] * q.shape[1]))
    for s in range(0, q.shape[0], step):
        v = vectors[rows[s:s + step].clamp_min(0)]  # (queries, R, dim)
        if metric == "l2":
            exact[s:s + step] = (v - q[s:s + step].unsqueeze(1)).pow_(2).sum(dim=2).neg_()
        else:
            exact[s:s + step] = torch.bmm(v, q[s:s + step].unsqueeze(2)).squeeze(2)
    exact.masked_fill_(rows < 0, -torch.inf)
    top = exact.topk(k, dim=1)
    return top.values, rows.gather(1, top.indices)


def _common(q: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.promote_types(q.dtype, x.dtype)
    return q.to(dtype), x.to(dtype)


def exact_search(
    queries: Vectors, database: Vectors, k: int, metric: str = "ip",
    batch_size: int = 1024, database_batch_size: int = 32768,
    device: str | torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The exact top-``k`` of the database for each query: ``(scores, ids)``, each
    ``(n_queries, k)``.

    ``"ip"`` and ``"cosine"`` give similarities, largest first; ``"l2"`` gives squared
    distances, smallest first. Queries go ``batch_size`` and database rows
    ``database_batch_size`` at a time.
    """
    _check_metric(metric)
    dev = get_device(device)
    x = check_vectors(database, "the database vectors", dev)
    q = check_vectors(queries, "the query vectors", dev, dim=x.shape[1])
    _check_k(k, x.shape[0])
    k = int(k)
    check_positive("batch_size", batch_size)
    check_positive("database_batch_size", database_batch_size)
    q, x = _common(q, x)
    if metric == "cosine":
        q, x = check_queries(_unit(q), metric), _unit(x)
    return _finish(
        _topk_blocked(q, x, k, metric, batch_size, database_batch_size), metric)


class IVFFlat:
    """An inverted-file index: ``nlist`` k-means cells, full vectors stored per cell; `train`, `add`, then `search`."""

    def __init__(self, nlist: int, metric: str = "l2", n_iter: int = 10, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        if not is_whole(nlist) or nlist < 1:
            raise ValueError(f"nlist must be a positive integer, got {nlist!r}.")
        self.nlist, self.metric = nlist, _check_metric(metric)
        self.n_iter, self.seed = check_whole("n_iter", n_iter), check_whole("seed", seed)
        self.device = get_device(device)
        self.centroids: torch.Tensor | None = None
        self.objective: float | None = None
        self._clear()

    def _clear(self) -> None:
        """Empty inverted lists, stored contiguously: list ``l`` is rows ``offsets[l]:offsets[l + 1]``."""
        dtype = torch.float32 if self.centroids is None else self.centroids.dtype
        dim = 0 if self.centroids is None else self.centroids.shape[1]
        self.vectors = torch.empty(0, dim, dtype=dtype, device=self.device)
        self.ids = torch.empty(0, dtype=torch.long, device=self.device)
        self.lists = torch.empty(0, dtype=torch.long, device=self.device)
        self.offsets = torch.zeros(self.nlist + 1, dtype=torch.long, device=self.device)

    def __repr__(self) -> str:
        state = f"{self.ntotal:,} vectors" if self.is_trained else "untrained"
        return f"IVFFlat(nlist={self.nlist}, metric={self.metric!r}, {state}, device={self.device.type})"

    @property
    def is_trained(self) -> bool:
        """Whether `train` has run."""
        return self.centroids is not None

    @property
    def ntotal(self) -> int:
        """Number of vectors added."""
        return self.ids.shape[0]

    @property
    def dim(self) -> int:
        """Dimension of the vectors (known once trained)."""
        self._require_trained("use dim")
        return self.centroids.shape[1]

    def list_sizes(self) -> torch.Tensor:
        """Number of vectors in each inverted list."""
        return self.offsets.diff()

    def _require_trained(self, action: str) -> None:
        if self.centroids is None:
            raise RuntimeError(f"this IVFFlat index is not trained, so it cannot {action}; call train(x) first "
                               "with representative vectors.")

    def _prepare(self, x: Vectors, name: str, dim: int | None = None) -> torch.Tensor:
        x = check_vectors(x, name, self.device, dim)
        if self.centroids is not None:
            x = x.to(self.centroids.dtype)
        return _unit(x) if self.metric == "cosine" else x

    def _coarse(self, x: torch.Tensor, nprobe: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``nprobe`` nearest centroids of each row (by L2, or by inner product for "ip" and "cosine")."""
        coarse_metric = "l2" if self.metric == "l2" else "ip"
        return _topk_blocked(x, self.centroids, nprobe, coarse_metric, 4096, 32768, numpy_blas=False)

    @classmethod
    def from_centroids(cls, centroids: Vectors, metric: str = "l2",
                       device: str | torch.device | None = None) -> "IVFFlat":
        """An empty, trained `IVFFlat` whose coarse quantiser is the given ``(nlist, dim)`` centroids.

        Pass another index's ``centroids`` (for ``"ip"`` and ``"cosine"`` they are unit vectors) to build
        indexes that file every vector in the same list, e.g. one per shard of a database.
        """
        if cls is not IVFFlat:
            raise TypeError(f"from_centroids builds an IVFFlat only; {cls.__name__} needs its own training.")
        centroids = check_vectors(centroids, "the centroids", get_device(device))
        index = cls(centroids.shape[0], metric, device=device)
        index.centroids = centroids
        index._clear()
        return index

    def train(self, x: Vectors) -> "IVFFlat":
        """Learn the ``nlist`` centroids by k-means on ``x``; this empties the index."""
        x = self._prepare(x, "the training vectors")
        if x.shape[0] < self.nlist:
            raise ValueError(f"training needs at least nlist={self.nlist} vectors, got {x.shape[0]}; "
                             "train on more vectors or lower nlist (about sqrt(n) is usual).")
        self.centroids, self.objective = kmeans(x, self.nlist, n_iter=self.n_iter, seed=self.seed,
                                                spherical=self.metric != "l2", device=self.device)
        self._clear()
        return self

    def add(self, x: Vectors) -> "IVFFlat":
        """File the rows of ``x`` in their inverted lists; their ids continue from `ntotal` (0, 1, 2...)."""
        self._require_trained("add vectors")
        x = self._prepare(x, "the vectors to add", self.dim)
        lists = self._coarse(x, 1)[1].squeeze(1)
        ids = torch.arange(self.ntotal, self.ntotal + x.shape[0], device=self.device)
        lists, order = torch.cat([self.lists, lists]).sort(stable=True)
        self.lists = lists
        self.vectors = torch.cat([self.vectors, x])[order]
        self.ids = torch.cat([self.ids, ids])[order]
        self.offsets[1:] = torch.bincount(lists, minlength=self.nlist).cumsum(0)
        return self

    def _search_inputs(self, queries: Vectors, k: int, nprobe: int) -> tuple[torch.Tensor, int, int]:
        """The checks every search makes: a trained, non-empty index, nprobe and k in range, queries of its dim."""
        self._require_trained("search")
        if self.ntotal == 0:
            raise RuntimeError(f"this {type(self).__name__} index is empty; call add(x) with the database vectors "
                               "before searching.")
        if not is_whole(nprobe) or not 1 <= nprobe <= self.nlist:
            raise ValueError(f"nprobe must be an integer from 1 to nlist={self.nlist}, got {nprobe!r}; "
                             "more lists probed means higher recall and slower search.")
        q = check_queries(self._prepare(queries, "the query vectors", self.dim), self.metric)
        _check_k(k, self.ntotal)
        return q, int(k), int(nprobe)

    def _visits(self, block: torch.Tensor, nprobe: int):
        """For each inverted list that some query of ``block`` probes: the list, those queries (rows of ``block``),
        the list's rows ``a:b`` in the index and the queries' coarse scores for it. One list at a time, against
        all the queries that probe it, so each list's vectors are read once per block."""
        coarse, probes = self._coarse(block, nprobe)
        owners = torch.arange(block.shape[0], device=self.device).repeat_interleave(nprobe)
        probes, order = probes.reshape(-1).sort(stable=True)
        owners, coarse = owners[order], coarse.reshape(-1)[order]
        starts = torch.bincount(probes, minlength=self.nlist).cumsum(0).tolist()
        offsets, start = self.offsets.tolist(), 0
        for cell, end in enumerate(starts):
            a, b = offsets[cell], offsets[cell + 1]
            if end > start and b > a:
                yield cell, owners[start:end], a, b, coarse[start:end]
            start = end

    def search(self, queries: Vectors, k: int, nprobe: int = 1,
               batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate top-``k``: ``(scores, ids)`` from the ``nprobe`` lists nearest to
        each query."""
        q, k, nprobe = self._search_inputs(queries, k, nprobe)
        check_positive("batch_size", batch_size)
        vectors_sq = self.vectors.pow(2).sum(dim=1) if self.metric == "l2" else None
        out_scores, out_ids = [], []
        for qs in range(0, q.shape[0], batch_size):
            block = q[qs:qs + batch_size]
            best = _empty_best(block.shape[0], k, block)
            for _, who, a, b, _ in self._visits(block, nprobe):
                sq = None if vectors_sq is None else vectors_sq[a:b]
                scores = _scores(block[who], self.vectors[a:b], self.metric, sq)
                s, i = _merge((best[0][who], best[1][who]), scores, self.ids[a:b], k)
                best[0][who], best[1][who] = s, i
            out_scores.append(best[0])
            out_ids.append(best[1])
        return _finish((torch.cat(out_scores), torch.cat(out_ids)), self.metric)
