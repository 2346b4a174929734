"""Compressed vectors: 8-bit scalar quantisation, and 1-bit sign codes searched by Hamming distance.

`Int8Index` stores each number in one byte, as faiss's ``IndexScalarQuantizer``
with ``QT_8bit`` and its default per-dimension range: `Int8Index.train` learns each
dimension's minimum ``lo_j`` and width ``w_j = max_j - lo_j``; a number becomes the
code ``c = floor(255 * clip((x - lo_j) / w_j, 0, 1))`` and decodes to the middle of
its step, ``lo_j + (c + 0.5) / 255 * w_j``. Search is asymmetric: the float query
is scored against the decoded database, a block of rows at a time. That saves
memory (``dim`` bytes per vector instead of ``4 * dim``), not time: each block is
decoded to floats before the matrix product.

`BinaryIndex` keeps one bit per dimension, 1 where the number is positive
(`pack_signs`: ``ceil(dim / 8)`` bytes, least significant bit first, the order of
faiss's ``fvecs2bitvecs``, which however sets the bit for ``x >= 0``). The Hamming
distance between two codes, the number of bits that differ, ranks the database;
the best ``rerank`` candidates are then re-scored exactly with the float vectors,
which the index keeps for that purpose. A bit tells most where its dimension is
positive about half the time (centred data); for data that are never negative
(pixels) it only says "non-zero": subtract the mean first.

`hamming_distances` counts differing bits with a matrix product: writing each bit
as ``s = +1`` or ``-1``, ``s . t = n_bits - 2 * hamming``, so one float matrix
product gives every pair's distance exactly (integers below ``2**24`` are exact
in float32), on any device; ``method="table"`` counts the bits of ``a XOR b``
byte by byte with a 256-entry look-up table, the textbook way (slower in torch).

Left out: 4-bit and float16 codes, non-uniform ranges (faiss's ``RS_quantiles``,
``RS_optim``), a learned rotation before taking signs (ITQ), multi-index hashing,
and the hardware ``popcount`` instruction, with which faiss's ``IndexBinaryFlat``
compares codes faster than a float matrix product can, the more so the longer the codes.
"""

from __future__ import annotations


import torch

from .device import get_device
from .errors import ShapeError, check_positive, is_whole
from .kmeans import Vectors, _unit, check_vectors
from .search import _check_k, _check_metric, _finish, _rescore, check_queries
from .topk import _topk_blocked

_BLOCK = 32768  # database rows decoded at a time


def _popcount_table(device: torch.device) -> torch.Tensor:
    """The number of 1 bits of each byte value 0..255."""
    values = torch.arange(256, device=device)
    return ((values.unsqueeze(1) >> torch.arange(8, device=device)) & 1).sum(dim=1).to(torch.int32)


def pack_signs(x: Vectors, device: str | torch.device | None = None) -> torch.Tensor:
    """``(n, ceil(dim / 8))`` uint8 codes: bit ``j % 8`` of byte ``j // 8`` is 1 where ``x[:, j] > 0``."""
    x = check_vectors(x, "the vectors to pack", get_device(device))
    bits = torch.nn.functional.pad((x > 0).to(torch.uint8), (0, -x.shape[1] % 8))
    weights = 2 ** torch.arange(8, device=x.device)
    return (bits.reshape(x.shape[0], -1, 8) * weights).sum(dim=2).to(torch.uint8)


def _check_codes(codes: torch.Tensor | object, name: str, device: torch.device) -> torch.Tensor:
    codes = torch.as_tensor(codes, device=device)
    if codes.dtype != torch.uint8 or codes.ndim != 2:
        raise ShapeError(f"{name} must be an (n, bytes) uint8 matrix, as pack_signs returns; "
                         f"got {codes.dtype} of shape {tuple(codes.shape)}.")
    return codes


def _unpack(codes: torch.Tensor, n_bits: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n, n_bits)`` +1 / -1 values of the first ``n_bits`` bits of each code."""
    bits = (codes.unsqueeze(2) >> torch.arange(8, dtype=torch.uint8, device=codes.device)) & 1
    return bits.reshape(codes.shape[0], -1)[:, :n_bits].to(dtype).mul_(2).sub_(1)


def hamming_distances(a_codes: torch.Tensor, b_codes: torch.Tensor, method: str = "matmul",
                      device: str | torch.device | None = None) -> torch.Tensor:
    """``(n_a, n_b)`` int32 Hamming distances between the rows of two uint8 code matrices (all their bits).

    ``method="matmul"`` computes ``(n_bits - s . t) / 2`` with the bits as +1 / -1 floats, a block of
    ``b_codes`` at a time; ``"table"`` adds up the bits of each byte of ``a XOR b`` from a look-up table.
    """
    dev = get_device(device)
    a, b = _check_codes(a_codes, "a_codes", dev), _check_codes(b_codes, "b_codes", dev)
    if a.shape[1] != b.shape[1]:
        raise ShapeError(f"the codes have {a.shape[1]} and {b.shape[1]} bytes per vector; compare codes of "
                         "vectors of the same dimension.")
    if method == "table":
        table = _popcount_table(dev)
        out = torch.zeros(a.shape[0], b.shape[0], dtype=torch.int32, device=dev)
        for j in range(a.shape[1]):
            out += table[(a[:, j, None] ^ b[None, :, j]).long()]
        return out
    if method != "matmul":
        raise ValueError(f"method must be 'matmul' or 'table', got {method!r}.")
    n_bits = 8 * a.shape[1]
    sa = _unpack(a, n_bits)
    out = torch.empty(a.shape[0], b.shape[0], dtype=torch.int32, device=dev)
    for s in range(0, b.shape[0], _BLOCK):
        dots = sa @ _unpack(b[s:s + _BLOCK], n_bits).T
        out[:, s:s + _BLOCK] = dots.neg_().add_(n_bits).div_(2).round_().to(torch.int32)
    return out


class _CodeIndex:
    """What the two indexes share: a metric, a device, one row of uint8 codes per vector, the input checks."""

    def __init__(self, metric: str, device: str | torch.device | None) -> None:
        self.metric, self.device = _check_metric(metric), get_device(device)
        self.codes = torch.empty(0, 0, dtype=torch.uint8, device=self.device)
        self.dtype: torch.dtype | None = None  # the float type it computes in, fixed by the first vectors

    def __repr__(self) -> str:
        return f"{type(self).__name__}(metric={self.metric!r}, {self.ntotal:,} vectors, device={self.device.type})"

    @property
    def ntotal(self) -> int:
        """Number of vectors added."""
        return self.codes.shape[0]

    def _prepare(self, x: Vectors, name: str, dim: int | None = None) -> torch.Tensor:
        x = check_vectors(x, name, self.device, dim)
        x = x if self.dtype is None else x.to(self.dtype)
        return _unit(x) if self.metric == "cosine" else x

    def _search_inputs(self, queries: Vectors, k: int, batch_size: int) -> tuple[torch.Tensor, int]:
        """The checks every search makes: a non-empty index, ``k`` in range, queries of the index's dimension."""
        if self.ntotal == 0:
            raise RuntimeError(f"this {type(self).__name__} is empty; call add(x) with the database vectors "
                               "before searching.")
        q = check_queries(self._prepare(queries, "the query vectors", self.dim), self.metric)
        _check_k(k, self.ntotal)
        check_positive("batch_size", batch_size)
        return q, int(k)


class Int8Index(_CodeIndex):
    """One byte per number (faiss's ``QT_8bit``): `train` the per-dimension ranges, `add`, then `search`.

    ``ntotal`` counts the vectors added; ``codes`` holds them, ``(ntotal, dim)`` uint8.
    """

    def __init__(self, metric: str = "l2", device: str | torch.device | None = None) -> None:
        super().__init__(metric, device)
        self.lo: torch.Tensor | None = None  # per-dimension minimum
        self.width: torch.Tensor | None = None  # per-dimension maximum - minimum

    @property
    def dim(self) -> int:
        """Dimension of the vectors (known once trained)."""
        self._require_trained("use dim")
        return self.lo.shape[0]

    @property
    def bytes_per_vector(self) -> int:
        """Bytes of one stored vector: one per dimension."""
        return self.dim

    @property
    def is_trained(self) -> bool:
        """Whether `train` has run."""
        return self.lo is not None

    def _require_trained(self, action: str) -> None:
        if not self.is_trained:
            raise RuntimeError(f"this Int8Index is not trained, so it cannot {action}; call train(x) first "
                               "with representative vectors (it learns each dimension's range).")

    def train(self, x: Vectors) -> "Int8Index":
        """Learn each dimension's minimum and maximum on ``x`` (unit rows for ``"cosine"``); this empties the index."""
        x = self._prepare(x, "the training vectors")
        lo = x.min(dim=0).values
        width = x.max(dim=0).values - lo
        if not bool((width > 0).any()):  # every code would be 0: all vectors would tie in every search
            raise ValueError(f"the {x.shape[0]} training vectors do not vary in any dimension, so there is no range "
                             "to quantise; train on many representative vectors (a sample of the data to index).")
        self.lo, self.width, self.dtype = lo, width, x.dtype
        self.codes = torch.empty(0, x.shape[1], dtype=torch.uint8, device=self.device)
        return self

    def encode(self, x: Vectors) -> torch.Tensor:
        """The ``(n, dim)`` uint8 codes of the rows of ``x``, as `add` stores them."""
        self._require_trained("encode")
        x = self._prepare(x, "the vectors to encode", self.dim)
        scaled = torch.where(
            self.width > 0,
            (x - self.lo) / torch.where(self.width > 0, self.width, 1),
            0)
        return scaled.clamp_(0, 1).mul_(255).floor_().to(torch.uint8)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The ``(n, dim)`` float vectors the codes stand for: the middle of each code's step."""
        self._require_trained("decode")
        codes = torch.as_tensor(codes, device=self.device)
        if codes.dtype != torch.uint8 or codes.ndim != 2 or codes.shape[1] != self.dim:
            raise ShapeError(f"codes must be an (n, dim={self.dim}) uint8 matrix, as encode returns; "
                             f"got {codes.dtype} of shape {tuple(codes.shape)}.")
        return self.lo + (codes.to(self.lo.dtype) + 0.5) / 255 * self.width

    def add(self, x: Vectors) -> "Int8Index":
        """Encode and store the rows of ``x``; their ids continue from `ntotal` (0, 1, 2...)."""
        self.codes = torch.cat([self.codes, self.encode(x)])
        return self

    def search(self, queries: Vectors, k: int, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k`` of the float queries against the decoded codes: ``(scores, ids)`` as `search.exact_search`."""
        self._require_trained("search")
        q, k = self._search_inputs(queries, k, batch_size)
        rank = "l2" if self.metric == "l2" else "ip"
        best = _topk_blocked(q, self.codes, k, rank, batch_size, _BLOCK, decode=self.decode)
        return _finish(best, self.metric)


class BinaryIndex(_CodeIndex):
    """Sign bits searched by Hamming distance, then re-scored with the float vectors: `add`, then `search`.

    ``ntotal`` counts the vectors added; ``codes`` holds them, ``(ntotal, code_bytes)`` uint8, and
    ``vectors`` the float vectors (unit rows for ``"cosine"``).
    """

    def __init__(self, metric: str = "cosine", device: str | torch.device | None = None) -> None:
        super().__init__(metric, device)
        self.vectors: torch.Tensor | None = None  # the float vectors (unit rows for "cosine"), for re-scoring

    @property
    def dim(self) -> int:
        """Dimension of the vectors (known once vectors are added)."""
        if self.vectors is None:
            raise RuntimeError("this BinaryIndex is empty, so its dimension is unknown; call add(x) first.")
        return self.vectors.shape[1]

    @property
    def code_bytes(self) -> int:
        """Bytes of one code, ``ceil(dim / 8)`` (the float vectors kept for re-scoring take ``4 * dim`` more)."""
        return -(-self.dim // 8)

    def add(self, x: Vectors) -> "BinaryIndex":
        """Store the sign codes and the float vectors of the rows of ``x``; ids continue from `ntotal`."""
        x = self._prepare(x, "the vectors to add", None if self.vectors is None else self.dim)
        self.vectors = x if self.vectors is None else torch.cat([self.vectors, x])
        self.dtype = x.dtype
        codes = pack_signs(x, self.device)
        self.codes = codes if self.ntotal == 0 else torch.cat([self.codes, codes])
        return self

    def search(self, queries: Vectors, k: int, rerank: int | None = None, batch_size: int = 1024
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-``k``: the ``rerank`` codes nearest in Hamming distance, re-scored exactly with ``metric``.

        ``rerank=None`` skips the re-scoring and returns the Hamming top-``k`` with scores minus the
        Hamming distances (as floats, larger is better, whatever the metric). Otherwise the scores are
        those of `search.exact_search` (``"l2"``: squared distances, smallest first).
        """
        q, k = self._search_inputs(queries, k, batch_size)
        if rerank is not None and (not is_whole(rerank) or not k <= rerank <= self.ntotal):
            raise ValueError(f"rerank must be an integer from k={k} to the number of vectors ({self.ntotal}), "
                             f"got {rerank!r}; more candidates re-scored means higher recall and slower search.")
        depth = k if rerank is None else int(rerank)
        signs = _unpack(pack_signs(q, self.device), self.dim, q.dtype)
        decode = lambda codes: _unpack(codes, self.dim, q.dtype)  # noqa: E731
        dots, rows = _topk_blocked(signs, self.codes, depth, "ip", batch_size, _BLOCK, decode=decode)
        if rerank is None:
            return (dots - self.dim) / 2, rows  # s . t = dim - 2 * hamming
        return _finish(_rescore(q, self.vectors, rows, k, self.metric), self.metric)
