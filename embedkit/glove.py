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

Left out: the C tool's out-of-core shuffling of counts larger than memory,
and asymmetric windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .device import get_device
from .errors import EmptyInputError, ShapeError
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

    def __len__(self) -> int:
        return len(self.counts)

    def dense(self) -> torch.Tensor:
        """The full ``size x size`` matrix (only for small vocabularies)."""
        x = torch.zeros(self.size, self.size, dtype=self.counts.dtype, device=self.counts.device)
        x[self.rows, self.cols] = self.counts
        return x


def cooccurrence(ids: torch.Tensor, sentence: torch.Tensor, vocab_size: int, window: int = 10) -> Cooccurrence:
    """Weighted co-occurrence counts of a corpus given as flat word ids and sentence numbers.

    Each pair of words ``d <= window`` positions apart in the same sentence adds
    ``1 / d`` to X[a, b] and to X[b, a].
    """
    if ids.ndim != 1 or ids.shape != sentence.shape:
        raise ShapeError(f"ids and sentence numbers must be 1-D and of equal length; got {tuple(ids.shape)}, "
                         f"{tuple(sentence.shape)}.")
    if len(ids) < 2:
        raise EmptyInputError("the corpus needs at least two words to count co-occurrences.")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}.")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        raise ValueError(f"word ids must lie in 0..{vocab_size - 1}.")
    keys, weights = [], []
    for d in range(1, min(window, len(ids) - 1) + 1):
        same = sentence[:-d] == sentence[d:]
        a, b = ids[:-d][same], ids[d:][same]
        keys += [a * vocab_size + b, b * vocab_size + a]
        weights += [torch.full((2 * len(a),), 1.0 / d, dtype=torch.float64, device=ids.device)]
    keys = torch.cat(keys)
    if len(keys) == 0:
        raise EmptyInputError("no two words share a sentence: there is nothing to count.")
    unique, inverse = torch.unique(keys, return_inverse=True)
    counts = torch.zeros(len(unique), dtype=torch.float64, device=ids.device).index_add_(0, inverse, torch.cat(weights))
    return Cooccurrence(unique // vocab_size, unique % vocab_size, counts, vocab_size)


def weighting(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """GloVe's weight f(x) = min(1, (x / x_max) ** alpha): rare pairs count less, frequent ones are capped."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


class GloVe:
    """Word and context vectors with biases, trained on a `Cooccurrence` by AdaGrad."""

    def __init__(self, vocab_size: int, dim: int = 100, x_max: float = 100.0, alpha: float = 0.75,
                 lr: float = 0.05, seed: int = 0, device: str | torch.device | None = None) -> None:
        if vocab_size < 1 or dim < 1:
            raise ValueError(f"vocab_size and dim must be at least 1; got {vocab_size}, {dim}.")
        self.x_max, self.alpha, self.lr = x_max, alpha, lr
        self.device = get_device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        # per word, one row holds the vector, the bias (as glove.c stores them) and their AdaGrad
        # accumulators, so that one gather and one scatter serve all four
        init = lambda: torch.cat([(torch.rand(vocab_size, dim + 1, generator=self.generator, device=self.device) - 0.5) / dim,
                                  torch.ones(vocab_size, dim + 1, device=self.device)], dim=1)
        self._word, self._context = init(), init()
        self.dim = dim

    @property
    def w(self) -> torch.Tensor:
        """Word vectors with the bias as the last column (a view)."""
        return self._word[:, :self.dim + 1]

    @property
    def wc(self) -> torch.Tensor:
        """Context vectors with the bias as the last column (a view)."""
        return self._context[:, :self.dim + 1]

    @property
    def gradsq(self) -> torch.Tensor:
        """AdaGrad's sums of squared steps for `w` (a view); they start at 1 as in glove.c."""
        return self._word[:, self.dim + 1:]

    @property
    def gradsq_c(self) -> torch.Tensor:
        """AdaGrad's sums of squared steps for `wc` (a view)."""
        return self._context[:, self.dim + 1:]

    @staticmethod
    def _residual(w: torch.Tensor, wc: torch.Tensor, log_x: torch.Tensor) -> torch.Tensor:
        """w_i . w~_j + b_i + b~_j - log X_ij for rows of vectors with their bias in the last column."""
        return (w[:, :-1] * wc[:, :-1]).sum(dim=1) + w[:, -1] + wc[:, -1] - log_x

    def loss(self, x: Cooccurrence) -> float:
        """The objective J, halved as glove.c reports it, divided by the number of non-zero counts."""
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        diff = self._residual(self.w[rows], self.wc[cols], counts.log())
        return float(0.5 * (weighting(counts, self.x_max, self.alpha) * diff * diff).sum() / len(x))

    def _step(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """One AdaGrad update from a batch of non-zero entries (their log counts and weights), the C tool's rule.

        Returns the batch's share of the loss before the update, as glove.c accumulates it.
        """
        k = self.dim + 1
        word, context = self._word[rows], self._context[cols]  # vectors, biases and accumulators
        w, wc = word[:, :k], context[:, :k]
        diff = self._residual(w, wc, log_x)
        fdiff = (fx * diff * self.lr)[:, None]
        grad_w = torch.cat([fdiff * wc[:, :-1], fdiff], dim=1)  # d/dw and d/db of the weighted loss, times lr
        grad_wc = torch.cat([fdiff * w[:, :-1], fdiff], dim=1)
        self._word.index_add_(0, rows, torch.cat([-grad_w / word[:, k:].sqrt(), grad_w * grad_w], dim=1))
        self._context.index_add_(0, cols, torch.cat([-grad_wc / context[:, k:].sqrt(), grad_wc * grad_wc], dim=1))
        return 0.5 * (fx * diff * diff).sum()

    @torch.no_grad()
    def train(self, x: Cooccurrence, epochs: int = 25, batch_size: int = 4096) -> History:
        """Fit to the non-zero counts of ``x``; returns a `History` with the mean loss of each epoch."""
        if len(x) == 0:
            raise EmptyInputError("the co-occurrence matrix has no non-zero entries.")
        if x.size != self.w.shape[0]:
            raise ShapeError(f"the matrix is for {x.size} words but the model has {self.w.shape[0]}.")
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        log_x, fx = counts.log(), weighting(counts, self.x_max, self.alpha)
        history = History()
        for epoch in progress(range(epochs), total=epochs, desc="GloVe epochs"):
            order = torch.randperm(len(x), generator=self.generator, device=self.device)
            total = torch.zeros((), dtype=torch.float64, device=self.device)
            for start in range(0, len(x), batch_size):
                pick = order[start:start + batch_size]
                total += self._step(rows[pick], cols[pick], log_x[pick], fx[pick])
            loss = float(total) / len(x)  # the mean loss over the epoch, as glove.c prints it
            if not math.isfinite(loss):
                raise FloatingPointError(f"GloVe diverged in epoch {epoch + 1} (loss {loss}); lower lr (now {self.lr}).")
            history.append({"epoch": epoch + 1, "loss": loss})
        return history.finish(self.device)

    def vectors(self) -> torch.Tensor:
        """The embedding the paper uses: word plus context vectors, W + W~ (biases dropped)."""
        return self.w[:, :-1] + self.wc[:, :-1]

    def table(self, words: list[str]) -> EmbeddingTable:
        """W + W~ as an `EmbeddingTable` over ``words``."""
        return EmbeddingTable(words, self.vectors(), self.device)
