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

from dataclasses import dataclass

import torch

from .device import get_device
from .errors import EmptyInputError, ShapeError
from .progress import progress
from .table import EmbeddingTable


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
        x = torch.zeros(self.size, self.size, dtype=torch.float64)
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
        weights += [torch.full((2 * len(a),), 1.0 / d, dtype=torch.float64)]
    keys = torch.cat(keys)
    if len(keys) == 0:
        raise EmptyInputError("no two words share a sentence: there is nothing to count.")
    unique, inverse = torch.unique(keys, return_inverse=True)
    counts = torch.zeros(len(unique), dtype=torch.float64).index_add_(0, inverse, torch.cat(weights))
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
        # one parameter matrix: columns 0..dim-1 the vector, column dim the bias (as glove.c stores them)
        init = lambda: (torch.rand(vocab_size, dim + 1, generator=self.generator, device=self.device) - 0.5) / dim
        self.w, self.wc = init(), init()
        self.gradsq, self.gradsq_c = torch.ones_like(self.w), torch.ones_like(self.wc)
        self.dim = dim

    def _residual(self, rows: torch.Tensor, cols: torch.Tensor, log_x: torch.Tensor) -> torch.Tensor:
        w, wc = self.w[rows], self.wc[cols]
        return (w[:, :-1] * wc[:, :-1]).sum(dim=1) + w[:, -1] + wc[:, -1] - log_x

    def loss(self, x: Cooccurrence) -> float:
        """The objective J, halved as glove.c reports it, divided by the number of non-zero counts."""
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        diff = self._residual(rows, cols, counts.log())
        return float(0.5 * (weighting(counts, self.x_max, self.alpha) * diff * diff).sum() / len(x))

    def _step(self, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor) -> None:
        """One AdaGrad update from a batch of non-zero entries, the C tool's rule."""
        w, wc = self.w[rows], self.wc[cols]
        diff = (w[:, :-1] * wc[:, :-1]).sum(dim=1) + w[:, -1] + wc[:, -1] - counts.log()
        fdiff = (weighting(counts, self.x_max, self.alpha) * diff * self.lr)[:, None]
        grad_w = torch.cat([fdiff * wc[:, :-1], fdiff], dim=1)  # d/dw and d/db of the weighted loss, times lr
        grad_wc = torch.cat([fdiff * w[:, :-1], fdiff], dim=1)
        self.w.index_add_(0, rows, -grad_w / self.gradsq[rows].sqrt())
        self.wc.index_add_(0, cols, -grad_wc / self.gradsq_c[cols].sqrt())
        self.gradsq.index_add_(0, rows, grad_w * grad_w)
        self.gradsq_c.index_add_(0, cols, grad_wc * grad_wc)

    @torch.no_grad()
    def train(self, x: Cooccurrence, epochs: int = 25, batch: int = 4096) -> list[dict[str, float]]:
        """Fit to the non-zero counts of ``x``; returns the loss after each epoch."""
        if len(x) == 0:
            raise EmptyInputError("the co-occurrence matrix has no non-zero entries.")
        if x.size != self.w.shape[0]:
            raise ShapeError(f"the matrix is for {x.size} words but the model has {self.w.shape[0]}.")
        rows, cols = x.rows.to(self.device), x.cols.to(self.device)
        counts = x.counts.to(self.device, torch.float32)
        history = []
        for epoch in progress(range(epochs), total=epochs, desc="GloVe epochs"):
            order = torch.randperm(len(x), generator=self.generator, device=self.device)
            for start in range(0, len(x), batch):
                pick = order[start:start + batch]
                self._step(rows[pick], cols[pick], counts[pick])
            loss = self.loss(x)
            if not torch.isfinite(torch.tensor(loss)):
                raise FloatingPointError(f"GloVe diverged in epoch {epoch + 1} (loss {loss}); lower lr (now {self.lr}).")
            history.append({"epoch": epoch + 1, "loss": loss})
        return history

    def vectors(self) -> torch.Tensor:
        """The embedding the paper uses: word plus context vectors, W + W~ (biases dropped)."""
        return self.w[:, :-1] + self.wc[:, :-1]

    def table(self, words: list[str]) -> EmbeddingTable:
        """W + W~ as an `EmbeddingTable` over ``words``."""
        return EmbeddingTable(words, self.vectors(), self.device)
