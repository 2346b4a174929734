"""Product quantisation (Jegou, Douze and Schmid 2011): vectors compressed to ``m`` bytes, searched by table look-ups.

`ProductQuantizer` cuts each ``dim``-vector into ``m`` sub-vectors of ``dim / m``
numbers and learns ``2**nbits`` centroids per sub-space with
`embedkit.kmeans.kmeans`; a vector is stored as the ``m`` ids of its sub-vectors'
nearest centroids (``uint8`` codes, shape ``(n, m)``). Asymmetric distance
computation (ADC) keeps the query exact: its table, ``(m, 2**nbits)`` per query,
holds the squared distance (``"l2"``) or inner product (``"ip"``) of each query
sub-vector to each centroid, and a code's score is the sum of its ``m`` entries.

`IVFPQ` is `embedkit.search.IVFFlat`'s inverted file (the same coarse k-means,
spherical for ``"ip"`` and ``"cosine"``) with each vector stored as the PQ code of
its residual, the vector minus its list's centroid, as faiss's ``IndexIVFPQ``
does by default (``by_residual``, for every metric: an inner product is then
``<q, centroid> + <q, residual>``). ``search(..., rerank=R)`` re-scores the best
``R`` candidates by ADC exactly with the float vectors, which the index keeps only
when built with ``keep_vectors=True`` (``4 * dim`` more bytes per vector).

Scores come back as in `embedkit.search`: ``(n_queries, k)``, best first, ids
int64, -1 (score -inf, ``"l2"``: +inf) where the probed lists hold fewer than k.

Left out: codes of more than 8 bits, OPQ rotations, polysemous codes, faiss's
precomputed ``"l2"`` tables and 4-bit fast-scan, additive and residual quantisers,
graph indexes (HNSW), subsampling of large training
sets, removing vectors, custom ids and saving to disk. int8 and binary codes are in
`compress`.
"""

from __future__ import annotations

import numbers

import torch

from .device import get_device
from .errors import ShapeError, check_flag, check_positive, check_ids, check_whole, is_whole
from .kmeans import Vectors, assign, check_vectors, kmeans, squared_distances
from .search import IVFFlat, _check_k, _finish, _merge, _rescore
from .topk import _empty_best


def _check_nbits(nbits: int) -> None:
    if not is_whole(nbits) or not 1 <= nbits <= 8:
        raise ValueError(f"nbits must be an integer from 1 to 8 (codes are stored as uint8), got {nbits!r}.")


class ProductQuantizer:
    """``m`` sub-quantisers of ``2**nbits`` centroids each: `train`, then `encode`, `decode`, `tables`, `adc`."""

    def __init__(self, dim: int, m: int, nbits: int = 8, n_iter: int = 25, seed: int = 0,
                 device: str | torch.device | None = None) -> None:
        for name, value in (("dim", dim), ("m", m)):
            if not is_whole(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if dim % m:
            divisors = [d for d in range(1, min(dim, 64) + 1) if dim % d == 0]
            raise ValueError(f"dim={dim} is not divisible by m={m}; pick m among {divisors}, "
                             "or pad or PCA-project the vectors to a multiple of m.")
        _check_nbits(nbits)
        self.dim, self.m, self.nbits = int(dim), int(m), int(nbits)
        self.n_iter, self.seed = check_whole("n_iter", n_iter), check_whole("seed", seed)
        self.ksub, self.dsub = 2 ** self.nbits, self.dim // self.m
        self.device = get_device(device)
        self.centroids: torch.Tensor | None = None  # (m, ksub, dsub)

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return f"ProductQuantizer(dim={self.dim}, m={self.m}, nbits={self.nbits}, {state}, device={self.device.type})"

    @property
    def is_trained(self) -> bool:
        """Whether `train` has run."""
        return self.centroids is not None

    def _require_trained(self, action: str) -> None:
        if self.centroids is None:
            raise RuntimeError(f"this ProductQuantizer is not trained, so it cannot {action}; call train(x) first "
                               "with representative vectors.")

    def _vectors(self, x: Vectors, name: str) -> torch.Tensor:
        x = check_vectors(x, name, self.device, self.dim)
        return x if self.centroids is None else x.to(self.centroids.dtype)

    def _codes(self, codes: torch.Tensor | object) -> torch.Tensor:
        codes = torch.as_tensor(codes, device=self.device)
        if codes.ndim != 2 or codes.shape[1] != self.m:
            raise ShapeError(f"codes must be an (n, m={self.m}) matrix, as encode returns; "
                             f"got shape {tuple(codes.shape)}.")
        codes = check_ids("codes", codes, self.ksub, f"(nbits={self.nbits}): give the codes encode returns "
                          "(uint8), not another quantiser's.", ValueError)
        return codes.long()

    def _sub(self, x: torch.Tensor, j: int) -> torch.Tensor:
        return x[:, j * self.dsub:(j + 1) * self.dsub]

    def train(self, x: Vectors) -> "ProductQuantizer":
        """Learn ``2**nbits`` centroids per sub-space by k-means (sub-space ``j`` with seed ``seed + j``)."""
        x = self._vectors(x, "the training vectors")
        if x.shape[0] < self.ksub:
            raise ValueError(f"training needs at least 2**nbits={self.ksub} vectors, got {x.shape[0]}; "
                             "train on more vectors or lower nbits.")
        centroids = []
        for j in range(self.m):
            sub = self._sub(x, j).contiguous()
            distinct = torch.unique(sub, dim=0)
            if distinct.shape[0] <= self.ksub:  # so few distinct sub-vectors that each gets a centroid (repeated)
                centroids.append(distinct[torch.arange(self.ksub, device=self.device) % distinct.shape[0]])
            else:
                centroids.append(kmeans(sub, self.ksub, n_iter=self.n_iter, seed=self.seed + j,
                                        device=self.device).centroids)
        self.centroids = torch.stack(centroids)
        return self

    def encode(self, x: Vectors) -> torch.Tensor:
        """The ``(n, m)`` uint8 codes: the id of each sub-vector's nearest centroid."""
        self._require_trained("encode")
        x = self._vectors(x, "the vectors to encode")
        labels = [assign(self._sub(x, j), self.centroids[j])[1] for j in range(self.m)]
        return torch.stack(labels, dim=1).to(torch.uint8)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The ``(n, dim)`` reconstructions: each code's centroids, side by side."""
        self._require_trained("decode")
        codes = self._codes(codes)
        return torch.cat([self.centroids[j][codes[:, j]] for j in range(self.m)], dim=1)

    def tables(self, queries: Vectors, metric: str = "l2") -> torch.Tensor:
        """ADC look-up tables, ``(n_queries, m, 2**nbits)``: squared distances (``"l2"``) or inner products."""
        self._require_trained("build tables")
        if metric not in ("l2", "ip"):
            raise ValueError(f"metric must be 'l2' or 'ip' for ADC tables; got {metric!r}.")
        q = self._vectors(queries, "the query vectors")
        if metric == "ip":
            return torch.einsum("nms,mks->nmk", q.reshape(-1, self.m, self.dsub), self.centroids)
        return torch.stack([squared_distances(self._sub(q, j), self.centroids[j]) for j in range(self.m)], dim=1)

    def adc(self, tables: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """``(n_queries, n_codes)`` scores of the codes, each the sum of its ``m`` table
        entries."""
        codes = self._codes(codes)
        if tables.ndim != 3 or tables.shape[1:] != (self.m, self.ksub):
            raise ShapeError(f"tables must be (n_queries, m={self.m}, {self.ksub}), "
                             f"as tables() returns; got {tuple(tables.shape)}.")
        out = tables[:, 0, codes[:, 0]].clone()
        for j in range(1, self.m):
            out += tables[:, j, codes[:, j]]
        return out

    def search(self, queries: Vectors, codes: torch.Tensor, k: int, metric: str = "l2",
               batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` of all ``codes`` by ADC (faiss's ``IndexPQ``): ``(scores, ids)``, ids the rows of ``codes``."""
        codes = self._codes(codes)
        _check_k(k, codes.shape[0])
        check_positive("batch_size", batch_size)
        t = self.tables(queries, metric)
        out = []
        for s in range(0, t.shape[0], batch_size):
            scores = self.adc(t[s:s + batch_size], codes)
            top = (scores.neg() if metric == "l2" else scores).topk(int(k), dim=1)
            out.append(_finish((top.values, top.indices), metric))
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])


class IVFPQ(IVFFlat):
    """An inverted file of PQ codes of residuals: `train`, `add`, then `search` (optionally re-ranked exactly)."""

    def __init__(self, nlist: int, m: int, metric: str = "l2", nbits: int = 8, n_iter: int = 10, pq_iter: int = 25,
                 keep_vectors: bool = False, seed: int = 0, device: str | torch.device | None = None) -> None:
        if not isinstance(m, numbers.Integral) or m < 1:
            raise ValueError(f"m must be a positive integer, got {m!r}.")
        self.m, self.nbits, self.pq_iter = int(m), nbits, check_whole("pq_iter", pq_iter)
        self.keep_vectors = check_flag("keep_vectors", keep_vectors)
        self.pq: ProductQuantizer | None = None
        _check_nbits(nbits)
        super().__init__(nlist, metric, n_iter, seed, device)

    def _clear(self) -> None:
        super()._clear()
        self.codes = torch.empty(0, self.m, dtype=torch.uint8, device=self.device)

    def __repr__(self) -> str:
        state = f"{self.ntotal:,} vectors" if self.is_trained else "untrained"
        return (f"IVFPQ(nlist={self.nlist}, m={self.m}, nbits={self.nbits}, metric={self.metric!r}, {state}, "
                f"device={self.device.type})")

    def _require_trained(self, action: str) -> None:
        if self.centroids is None:
            raise RuntimeError(f"this IVFPQ index is not trained, so it cannot {action}; call train(x) first "
                               "with representative vectors.")

    def _residuals(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lists = self._coarse(x, 1)[1].squeeze(1)
        return x - self.centroids[lists], lists

    def train(self, x: Vectors) -> "IVFPQ":
        """Learn the coarse centroids (as `IVFFlat`), then the PQ of the residuals; this empties the index."""
        x = self._prepare(x, "the training vectors")
        pq = ProductQuantizer(x.shape[1], self.m, self.nbits, self.pq_iter, self.seed, self.device)  # checks dim % m
        super().train(x)
        self.pq = pq
        self.pq.train(self._residuals(x.to(self.centroids.dtype))[0])
        return self

    def add(self, x: Vectors) -> "IVFPQ":
        """Encode the rows of ``x`` into their inverted lists; their ids continue from `ntotal` (0, 1, 2...)."""
        self._require_trained("add vectors")
        x = self._prepare(x, "the vectors to add", self.dim)
        residuals, lists = self._residuals(x)
        ids = torch.arange(self.ntotal, self.ntotal + x.shape[0], device=self.device)
        self.lists, order = torch.cat([self.lists, lists]).sort(stable=True)
        self.codes = torch.cat([self.codes, self.pq.encode(residuals)])[order]
        if self.keep_vectors:
            self.vectors = torch.cat([self.vectors, x])[order]
        self.ids = torch.cat([self.ids, ids])[order]
        self.offsets[1:] = torch.bincount(self.lists, minlength=self.nlist).cumsum(0)
        return self

    def search(self, queries: Vectors, k: int, nprobe: int = 1, rerank: int | None = None,
               batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Approximate top-``k`` by ADC in the ``nprobe`` nearest lists; ``rerank=R`` re-scores the best R exactly."""
        q, k, nprobe = self._search_inputs(queries, k, nprobe)
        check_positive("batch_size", batch_size)
        if rerank is not None:
            if not self.keep_vectors:
                raise RuntimeError("this IVFPQ index keeps no float vectors to re-rank with; build it with "
                                   "IVFPQ(..., keep_vectors=True), or search with rerank=None.")
            if not is_whole(rerank) or not k <= rerank <= self.ntotal:
                raise ValueError(f"rerank must be an integer from k={k} to the number of vectors ({self.ntotal}), "
                                 f"got {rerank!r}.")
        depth = k if rerank is None else int(rerank)
        table_metric = "l2" if self.metric == "l2" else "ip"
        out_scores, out_ids = [], []
        for qs in range(0, q.shape[0], batch_size):
            block = q[qs:qs + batch_size]
            best = _empty_best(block.shape[0], depth, block)
            for cell, who, a, b, coarse_scores in self._visits(block, nprobe):
                if self.metric == "l2":  # |q - c - r|^2 from the table of q - c
                    scores = self.pq.adc(self.pq.tables(block[who] - self.centroids[cell], "l2"),
                                         self.codes[a:b]).neg_()
                else:  # <q, c> + <q, r>
                    scores = self.pq.adc(self.pq.tables(block[who], table_metric), self.codes[a:b])
                    scores += coarse_scores.unsqueeze(1)
                rows = torch.arange(a, b, device=self.device)  # positions in the lists, ids come at the end
                best[0][who], best[1][who] = _merge((best[0][who], best[1][who]), scores, rows, depth)
            scores, rows = best if rerank is None else _rescore(block, self.vectors, best[1], k, self.metric)
            out_scores.append(scores)
            out_ids.append(torch.where(rows >= 0, self.ids[rows.clamp_min(0)], -1))
        return _finish((torch.cat(out_scores), torch.cat(out_ids)), self.metric)
