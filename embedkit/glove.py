"""GloVe: global vectors from co-occurrence counts (Pennington, Socher and Manning 2014).

Two steps, as in the reference C tool:

1. `cooccurrence` counts, over a symmetric window, how often word j appears near
   word i, each occurrence weighted by 1 / distance. It is vectorised: one
   tensor operation per window offset, then a sparse sum of duplicate pairs.
2. `GloVe` fits word vectors w_i, context vectors w~_j and biases so that

       J = sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
       f(x) = min(1, (x / x_max) ** alpha),  x_max = 100, alpha = 0.75,

   over the non-zero counts only, by AdaGrad with the C tool's initial step
   0.05 and accumulators starting at 1. Entries are visited in a new random
   order each epoch, a batch at a time (gradients from the same parameters,
   added with ``index_add_``). The embedding is W + W~, as in the paper.

The update is the one of glove.c as released with the paper (2014). Since
2019, glove.c clips each component of a vector's gradient to +-100 (first
+-10) before multiplying by the rate; ``grad_clip=100`` does the same. That
change also dropped the rate from glove.c's bias steps (an unannounced side
effect, kept by later releases); ours keep it.

Left out: the C tool's out-of-core shuffling of counts larger than memory,
and asymmetric windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .device import get_device, seeded_generator, widest_float
from .errors import EmptyInputError, ShapeError, check_finite, check_positive, check_ids
from .progress import progress
from .table import EmbeddingTable
from .train import History


@dataclass
class Cooccurrence:
    """A sparse, symmetric co-occurrence matrix in coordinate form."""

    rows: torch.Tensor  # int64 word ids
    cols: torch.Tensor  # int64 context ids
    counts: torch.Tensor  # float64 weighted counts, all > 0
    size: int  # vocabulary size

    def __post_init__(self) -> None:
        self.size = check_positive("size (the vocabulary size)", self.size)
        if not (self.rows.ndim == self.cols.ndim == self.counts.ndim == 1
                and len(self.rows) == len(self.cols) == len(self.counts)):
            raise ShapeError("rows, cols and counts must be 1-D and of equal length; got "
                             f"{tuple(self.rows.shape)}, {tuple(self.cols.shape)}, {tuple(self.counts.shape)}.")
        self.rows, self.cols = (check_ids(name, ids, self.size, f"(size={self.size})", ValueError)
                                for name, ids in (("rows", self.rows), ("cols", self.cols)))
        if len(self.counts) and not bool((self.counts > 0).all() & torch.isfinite(self.counts).all()):
            raise ValueError("counts must be finite and above 0 (GloVe fits their logarithm); drop the zero pairs.")

    def __len__(self) -> int:
        return len(self.counts)

    def dense(self) -> torch.Tensor:
        """The full ``size x size`` matrix (only for small vocabularies)."""
        x = torch.zeros(self.size, self.size, dtype=self.counts.dtype, device=self.counts.device)
        x[self.rows, self.cols] = self.counts
        return x


def cooccurrence(
    ids: torch.Tensor, sentence: torch.Tensor, vocab_size: int, window: int = 10,
) -> Cooccurrence:
    """Weighted co-occurrence counts of a corpus given as flat word ids and sentence
    numbers.

    Each pair of words ``d <= window`` positions apart in the same sentence adds
    ``1 / d`` to X[a, b] and to X[b, a].
    """
    if ids.ndim != 1 or ids.shape != sentence.shape:
        raise ShapeError("ids and sentence numbers must be 1-D and of equal length; "
                         f"got {tuple(ids.shape)}, {tuple(sentence.shape)}.")
    ids = check_ids("word ids", ids, vocab_size, error=ValueError)
    sentence = check_ids("sentence numbers", sentence)
    if len(ids) < 2:
        raise EmptyInputError(
            "the corpus needs at least two words to count co-occurrences.")
    window = check_positive("window", window)
    keys, weights, wide = [], [], widest_float(ids.device)  # float32 on MPS
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        a, b = ids[:-d][same], ids[d:][same]
        keys += [a * vocab_size + b, b * vocab_size + a]
        weights += [torch.full((2 * len(a),), 1.0 / d, dtype=wide, device=ids.device)]
    keys = torch.cat(keys)
    if len(keys) == 0:
        raise EmptyInputError(
            "no two words share a sentence: there is nothing to count.")
    unique, inverse = torch.unique(keys, return_inverse=True)
    counts = (torch.zeros(len(unique), dtype=wide, device=ids.device)
              .index_add_(0, inverse, torch.cat(weights)))
    return Cooccurrence(unique // vocab_size, unique % vocab_size, counts, vocab_size)


def weighting(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weight f(x) = min(1, (x / x_max) ** alpha): rare pairs count less, frequent ones are capped."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


class GloVe:
    """Word vectors ``w`` and context vectors ``wc`` with biases ``b``, ``bc``, trained on a `Cooccurrence`
    by AdaGrad; ``gradsq_*`` hold AdaGrad's sums of squared steps, one per parameter, starting at 1
    (glove.c's rule). Raises ValueError for a size below 1 or an ``lr``, ``x_max``, ``alpha`` or ``grad_clip``
    that is not positive."""

    def __init__(self, vocab_size: int, dim: int = 100, x_max: float = 100.0, alpha: float = 0.75,
                 lr: float = 0.05, seed: int = 0, grad_clip: float | None = None,
                 device: str | torch.device | None = None) -> None:
        vocab_size, dim = check_positive("vocab_size", vocab_size), check_positive("dim", dim)
        if grad_clip is not None:
            check_finite("grad_clip", grad_clip, hint=" Use None for no clipping.")
        # lr <= 0 climbs the loss, x_max <= 0 gives NaN
        for name, value in (("lr", lr), ("x_max", x_max), ("alpha", alpha)):
            check_finite(name, value, hint=" The defaults (lr=0.05, x_max=100, alpha=0.75) are glove.c's.")
        self.x_max, self.alpha, self.lr, self.dim, self.grad_clip = x_max, alpha, lr, dim, grad_clip
        self.device = get_device(device)
        self.generator = seeded_generator(seed, self.device)
        # as glove.c: each vector and its bias uniform in +-0.5 / dim (glove.c: / (dim + 1)), words then contexts
        word = (torch.rand(vocab_size, dim + 1, generator=self.generator, device=self.device) - 0.5) / dim
        context = (torch.rand(vocab_size, dim + 1, generator=self.generator, device=self.device) - 0.5) / dim
        self.w, self.b = word[:, :dim].contiguous(), word[:, dim].contiguous()
        self.wc, self.bc = context[:, :dim].contiguous(), context[:, dim].contiguous()
        self.gradsq_w, self.gradsq_b = torch.ones_like(self.w), torch.ones_like(self.b)
        self.gradsq_wc, self.gradsq_bc = torch.ones_like(self.wc), torch.ones_like(self.bc)

    def residual(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor) -> torch.Tensor:
        """w_i . w~_j + b_i + b~_j - log X_ij for the entries ``(rows, cols)``."""
        w, wc = self.w.index_select(0, rows), self.wc.index_select(0, cols)  # as step gathers them
        return (w * wc).sum(dim=1) + self.b.index_select(0, rows) + self.bc.index_select(0, cols) - log_x

    def loss(self, x: Cooccurrence) -> float:
        """The objective J, halved as glove.c reports it, divided by the number of non-zero counts."""
        self._check_size(x)
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        diff = self.residual(rows, cols, counts.log())
        return float(0.5 * (weighting(counts, self.x_max, self.alpha) * diff * diff).sum() / len(x))

    def step(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor,
             fx: torch.Tensor) -> torch.Tensor:
        """One AdaGrad update from a batch of non-zero entries (their log counts and
        weights), glove.c's rule.

        Every entry's step is computed from the parameters before the batch; a word met
        twice gets both (added). Returns the batch's share of the loss before the
        update, as glove.c accumulates it.
        """
        # index_select: the rows of w[rows], gathered several times faster on a CPU
        w, wc = self.w.index_select(0, rows), self.wc.index_select(0, cols)
        b, bc = self.b.index_select(0, rows), self.bc.index_select(0, cols)
        diff = (w * wc).sum(dim=1) + b + bc - log_x
        # the weighted residual times the rate: the bias steps
        fdiff = fx * diff * self.lr
        for vec, bias, sq_vec, sq_bias, index, other in (
            (self.w, self.b, self.gradsq_w, self.gradsq_b, rows, wc),
            (self.wc, self.bc, self.gradsq_wc, self.gradsq_bc, cols, w),
        ):
            if self.grad_clip is None:
                # d/dw of the weighted loss, times the rate (in place: `other`, a
                # gathered copy, is not needed again)
                grad = other.mul_(fdiff[:, None])
            else:
                # glove.c since 2019: each component clipped to +-grad_clip, then times
                # the rate
                grad = ((fx * diff)[:, None] * other).clamp(
                    -self.grad_clip, self.grad_clip) * self.lr
            # -sqrt(sum of squares): the AdaGrad scale, negated to step downhill (in
            # place, as below: fresh tensors of this size cost more than the sums)
            scale = sq_vec.index_select(0, index).sqrt_().neg_()
            vec.index_add_(0, index, torch.div(grad, scale, out=scale))
            scale = sq_bias.index_select(0, index).sqrt_().neg_()
            bias.index_add_(0, index, torch.div(fdiff, scale, out=scale))
            sq_vec.index_add_(0, index, grad.square_())
            sq_bias.index_add_(0, index, fdiff * fdiff)
        return 0.5 * (fx * diff * diff).sum()

    def _check_size(self, x: Cooccurrence) -> None:
        if x.size != len(self.w):
            raise ShapeError(f"the matrix is for {x.size} words but the model has {len(self.w)}.")

    @torch.no_grad()
    def train(self, x: Cooccurrence, epochs: int = 25, batch_size: int = 4096) -> History:
        """Fit to the non-zero counts of ``x``; returns a `History` with the mean loss of each epoch."""
        if len(x) == 0:
            raise EmptyInputError("the co-occurrence matrix has no non-zero entries.")
        self._check_size(x)
        check_positive("epochs", epochs), check_positive("batch_size", batch_size)
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        log_x, fx = counts.log(), weighting(counts, self.x_max, self.alpha)
        history = History()
        for epoch in progress(range(epochs), total=epochs, desc="GloVe epochs"):
            order = torch.randperm(len(x), generator=self.generator, device=self.device)
            # the entries shuffled once per epoch; each batch is then a slice of them
            shuffled = [t.index_select(0, order) for t in (rows, cols, log_x, fx)]
            total = torch.zeros((), dtype=widest_float(self.device), device=self.device)
            for start in range(0, len(x), batch_size):
                total += self.step(*(t[start:start + batch_size] for t in shuffled))
            loss = float(total) / len(x)  # the mean loss over the epoch, as glove.c prints it
            if not math.isfinite(loss):
                raise FloatingPointError(f"GloVe diverged in epoch {epoch + 1} (loss {loss}); lower lr (now {self.lr}).")
            history.append({"epoch": epoch + 1, "loss": loss})
        return history.finish(self.device)

    def vectors(self) -> torch.Tensor:
        """The embedding the paper uses: word plus context vectors, W + W~ (biases dropped)."""
        return self.w + self.wc

    def table(self, words: list[str]) -> EmbeddingTable:
        """W + W~ as an `EmbeddingTable` over ``words``."""
        return EmbeddingTable(words, self.vectors(), self.device)
