"""Vectors from every layer of a BERT encoder: pooled in three ways, for a whole text or one word, then whitened.

A transformer computes a vector per word piece at every layer; any of them can
be an embedding. `layer_features` runs the encoder once over a list of texts
and keeps, for every layer (0 = the input embeddings, then each of the
transformer layers, as `embedkit.bert.BertEncoder.hidden_states` gives them):

- ``"cls"``: the vector at ``[CLS]`` (position 0), BERT's summary token;
- ``"mean"``: the mean over the real tokens (``[CLS]`` and ``[SEP]`` included,
  padding excluded), the pooling of all-MiniLM-L6-v2 (`embedkit.bert.mean_pool`);
- ``"max"``: the largest value of each component over the real tokens (`max_pool`),
  as sentence-transformers' max pooling;
- ``"span"``, when spans are given: the mean over one span of word pieces, such
  as the pieces of one word (`word_span` finds them).

`Whitening` centres vectors, and optionally whitens them (Su et al. 2021): after
``x -> (x - mean) W`` the vectors it was fitted on have zero mean and identity
covariance, so no direction dominates a cosine.

Left out: pooling by attention weights, the last-token pooling of causal models
(`embedkit.mlm` models are probed in their own chapter), and layer mixing
(learned weighted sums of layers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .bert import SentenceEncoder, check_pooling, mean_pool
from .device import float64_device
from .errors import EmptyInputError, ShapeError, check_finite, check_positive

POOLINGS = ("cls", "mean", "max")


def max_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The component-wise maximum over the tokens that are not padding:
    (batch, hidden)."""
    check_pooling(hidden, attention_mask)
    padding = attention_mask.unsqueeze(-1) == 0
    return hidden.masked_fill(padding, float("-inf")).max(dim=1).values


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor,
         pooling: str) -> torch.Tensor:
    """One vector per sequence, (batch, hidden): ``"cls"`` (position 0), ``"mean"`` or
    ``"max"`` over the real tokens."""
    if pooling == "cls":
        check_pooling(hidden, attention_mask)
        return hidden[:, 0]
    if pooling == "mean":
        return mean_pool(hidden, attention_mask)
    if pooling == "max":
        return max_pool(hidden, attention_mask)
    raise ValueError(f"unknown pooling {pooling!r}; choose among {POOLINGS}.")


def truncate(ids: list[int], max_length: int | None) -> list[int]:
    """``[CLS] ... [SEP]`` ids cut to ``max_length`` ids, keeping the final ``[SEP]`` (as the tokenizer truncates)."""
    if max_length is None or len(ids) <= max_length:
        return ids
    if max_length < 3:
        raise ValueError(f"max_length must leave room for [CLS], [SEP] and one piece; got {max_length}.")
    return ids[: max_length - 1] + ids[-1:]


def word_span(tokenizer, words: Sequence[str], position: int) -> tuple[int, int]:
    """Where the word ``words[position]`` lies in the ids of ``" ".join(words)``: ``(start, end)``, ``[CLS]`` counted.

    Each word is cut into pieces on its own, which is what the tokenizer does to
    space-separated words, so ``end - start`` is the number of pieces of that word.
    """
    if isinstance(words, str):
        raise TypeError("words must be a list of words, not a string; split the text first, e.g. text.split().")
    if not 0 <= position < len(words):
        raise IndexError(f"position {position} is outside the sentence of {len(words)} words.")
    start = 1 + sum(len(tokenizer.tokenize(w)) for w in words[:position])
    end = start + len(tokenizer.tokenize(words[position]))
    if end == start:
        raise EmptyInputError(f"the word {words[position]!r} has no word pieces (only spaces or control characters).")
    return start, end


@torch.no_grad()
def layer_features(model: SentenceEncoder, texts: Sequence[str], spans: Sequence[tuple[int, int]] | None = None,
                   max_length: int | None = None, batch_size: int = 64,
                   poolings: Sequence[str] = POOLINGS) -> dict[str, torch.Tensor]:
    """Pooled vectors of every layer, from one forward pass: ``{pooling: (layers + 1, n, hidden)}``.

    ``poolings`` chooses among ``"cls"``, ``"mean"`` and ``"max"``; with ``spans``
    (one ``(start, end)`` per text, in ids with ``[CLS]`` at 0) the result also holds
    ``"span"``, the mean of pieces ``start .. end - 1``. Texts are cut to
    ``max_length`` ids (default: the tokenizer's). Vectors are not normalised.
    They come back on the model's device.
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings; wrap a single text as [text].")
    if len(texts) == 0:
        raise EmptyInputError("no texts given; pass at least one.")
    check_positive("batch_size", batch_size)
    unknown = sorted(set(poolings) - set(POOLINGS))
    if unknown:
        raise ValueError(f"unknown pooling {unknown[0]!r}; choose among {POOLINGS}.")
    if spans is not None and len(spans) != len(texts):
        raise ShapeError(f"give one span per text: {len(spans)} spans for {len(texts)} texts.")
    ids = [truncate(model.tokenizer.encode(t), max_length) for t in texts]
    if spans is not None:
        for i, (start, end) in enumerate(spans):
            if not 1 <= start < end <= len(ids[i]) - 1:
                raise IndexError(f"text {i}: span ({start}, {end}) is not inside its {len(ids[i]) - 2} word pieces "
                                 "(ids 1 .. n - 2; was the text truncated?).")
    encoder, device = model.encoder, model.device
    layers, hidden = encoder.config.num_hidden_layers + 1, encoder.config.hidden_size
    names = list(poolings) + (["span"] if spans is not None else [])
    out = {name: torch.empty(layers, len(ids), hidden, device=device) for name in names}
    order = np.argsort([-len(i) for i in ids], kind="stable")  # batches of similar length: little padding
    for begin in range(0, len(ids), batch_size):
        chunk = order[begin:begin + batch_size]
        batch = model.tokenizer.pad([ids[i] for i in chunk])
        input_ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
        rows = torch.as_tensor(chunk, device=device)
        if spans is not None:
            positions = torch.arange(input_ids.shape[1], device=device)
            starts = torch.tensor([spans[i][0] for i in chunk], device=device)
            ends = torch.tensor([spans[i][1] for i in chunk], device=device)
            span_mask = (positions >= starts[:, None]) & (positions < ends[:, None])
        for layer, states in enumerate(encoder.hidden_states(input_ids, mask)):
            for pooling in poolings:
                out[pooling][layer, rows] = pool(states, mask, pooling)
            if spans is not None:
                out["span"][layer, rows] = mean_pool(states, span_mask.long())
    return out


@dataclass
class Whitening:
    """``x -> (x - mean) @ matrix``: centring (``matrix`` the identity) or whitening, fitted with `fit`."""

    mean: torch.Tensor
    matrix: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor, whiten: bool = True, dims: int | None = None,
            eps: float = 1e-9) -> "Whitening":
        """Fit on ``x`` (n, d). ``whiten=False``: centre only. Whitening: with the
        covariance ``S = (x - mean)^T (x - mean) / n = U diag(lam) U^T``,
        ``matrix = U diag(lam)^(-1/2)``, its columns ordered by decreasing variance;
        ``dims`` keeps only the first ``dims`` (Su et al.'s dimension reduction)."""
        check_finite("eps", eps, why=" (it keeps tiny variances from dividing by 0)")
        if x.ndim != 2 or len(x) < 2:
            raise ShapeError("fit on an (n, d) matrix with n >= 2 rows; "
                             f"got shape {tuple(x.shape)}.")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(
                "x contains NaN or infinity; remove or impute those rows first.")
        d = x.shape[1]
        if dims is not None and not 1 <= dims <= d:
            raise ValueError(
                f"dims must be between 1 and the dimension {d}; got {dims}.")
        x64 = x.to(float64_device(x.device), torch.float64)  # on MPS: the CPU's
        mean = x64.mean(0)
        # integer features (counts) get floating-point vectors, as in PCA
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        if not whiten:
            if dims is not None:
                raise ValueError(
                    "dims applies to whitening only; centring keeps every dimension.")
            identity = torch.eye(d, dtype=dtype, device=x.device)
            return cls(mean.to(x.device, dtype), identity)
        centred = x64 - mean
        evals, evecs = torch.linalg.eigh(centred.T @ centred / len(x))  # ascending
        evals, evecs = evals.flip(0), evecs.flip(1)
        matrix = evecs / evals.clamp(min=eps).sqrt()
        if dims is not None:
            matrix = matrix[:, :dims]
        return cls(mean.to(x.device, dtype), matrix.to(x.device, dtype))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) @ matrix``, with ``x`` cast to the fitted dtype (as `PCA.transform` casts);
        `ShapeError` unless ``x`` is (n, d) with the fitted d."""
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ShapeError(f"expected (n, {self.mean.shape[0]}) vectors like those fitted; got {tuple(x.shape)}.")
        x = x.to(self.matrix.dtype)
        return (x - self.mean.to(x.device)) @ self.matrix.to(x.device)
