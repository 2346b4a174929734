"""Contrastive training on (query, document) pairs: a pre-trained encoder fine-tuned from the top, or a bag of word pieces from scratch.

- `TopLayers` splits a `embedkit.bert.SentenceEncoder` in two. The lower layers
  stay frozen, so their output for a text is computed once (`TopLayers.cache`);
  only a copy of the top ``trainable`` layers is trained, and `TopLayers.embed`
  runs it on the cached states, then mean-pools and normalises. Before
  training, it gives the same vectors as the encoder it copies. Training one
  layer of six on cached inputs costs a fraction of training the whole network.
- `BagOfPieces`: a text's vector is the mean of one learned vector per word
  piece (no order, no context), trained from random vectors.
- `train_pairs` minimises `embedkit.retrieval.in_batch_negatives_loss` over
  random batches of pairs with AdamW, for any pair of embedding functions.

Left out: dropout, learning-rate warm-up and decay, gradient accumulation and
caches of negatives from earlier batches (GradCache, MoCo-style queues), and
mining hard negatives; the encoder's input embeddings and lower layers are never trained.
"""

from __future__ import annotations

import copy
import numbers
from typing import Callable, Iterable, NamedTuple, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .bert import SentenceEncoder
from .device import seeded_generator
from .errors import EmptyInputError, UnknownIDError, check_positive, check_ids
from .layerwise import POOLINGS, pool, truncate
from .retrieval import in_batch_negatives_loss
from .train import check_lr


class Cache(NamedTuple):
    """What `TopLayers.cache` keeps: ``states``, the frozen layers' output per text, (length, hidden) each,
    and ``features``, ``{pooling: (layers + 1, n, hidden)}`` pooled vectors of every layer (empty unless asked)."""

    states: list[torch.Tensor]
    features: dict[str, torch.Tensor]


class TopLayers(nn.Module):
    """The top ``trainable`` layers of a sentence encoder (a trainable copy) over its frozen lower layers."""

    def __init__(self, model: SentenceEncoder, trainable: int = 1) -> None:
        super().__init__()
        layers = model.encoder.config.num_hidden_layers
        if not 1 <= trainable <= layers:
            raise ValueError(f"trainable must be between 1 and the {layers} layers of the encoder; got {trainable}.")
        self.model, self.split = model, layers - trainable
        self.top = copy.deepcopy(model.encoder.layers[self.split:]).train()  # no dropout in these layers anyway

    @torch.no_grad()
    def cache(self, texts: Sequence[str], max_length: int | None = None, batch_size: int = 64,
              poolings: Sequence[str] = ()) -> Cache:
        """The frozen layers' output for each text, one (length, hidden) tensor per text, cut to ``max_length`` ids.

        With ``poolings`` (``"cls"``, ``"mean"``, ``"max"``), the same pass also runs the top layers as
        shipped (untrained) and keeps those pooled vectors of every layer, as `layerwise.layer_features`
        gives them; without, only the lower layers run.
        """
        if isinstance(texts, str) or len(texts) == 0:
            raise EmptyInputError("cache takes a non-empty list of strings.")
        check_positive("batch_size", batch_size)
        unknown = sorted(set(poolings) - set(POOLINGS))
        if unknown:
            raise ValueError(f"unknown pooling {unknown[0]!r}; choose among {POOLINGS}.")
        encoder, device = self.model.encoder, self.model.device
        ids = [truncate(self.model.tokenizer.encode(t), max_length) for t in texts]
        states: list[torch.Tensor] = [torch.empty(0)] * len(ids)
        n_layers = encoder.config.num_hidden_layers + 1 if poolings else self.split + 1
        features = {p: torch.empty(n_layers, len(ids), encoder.config.hidden_size, device=device) for p in poolings}
        for begin in range(0, len(ids), batch_size):
            batch = self.model.tokenizer.pad(ids[begin:begin + batch_size])
            input_ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
            x = encoder.input_embeddings(input_ids)
            for layer in range(n_layers):
                if layer:
                    x = encoder.layers[layer - 1](x, mask.bool()[:, None, None, :])
                if layer == self.split:
                    for row, length in enumerate(mask.sum(1).tolist()):
                        states[begin + row] = x[row, :length].clone()
                for pooling, out in features.items():
                    out[layer, begin:begin + len(input_ids)] = pool(x, mask, pooling)
        return Cache(states, features)

    def embed(self, states: Sequence[torch.Tensor],
              pooling: str = "mean") -> torch.Tensor:
        """Unit-length sentence vectors (n, hidden) from cached states (`Cache.states`):
        the top layers, then pooling (mean by default, as the encoder was trained), then
        L2 normalisation. Gradients flow into the top layers; wrap in
        ``torch.no_grad()`` to evaluate."""
        if len(states) == 0:
            raise EmptyInputError("no cached states given.")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose among {POOLINGS}.")
        length = max(s.shape[0] for s in states)
        x = torch.zeros(len(states), length, states[0].shape[1],
                        device=states[0].device)
        mask = torch.zeros(len(states), length, dtype=torch.long, device=x.device)
        for row, s in enumerate(states):
            x[row, : len(s)], mask[row, : len(s)] = s, 1
        for layer in self.top:
            x = layer(x, mask.bool()[:, None, None, :])
        return F.normalize(pool(x, mask, pooling), dim=-1)


class BagOfPieces(nn.Module):
    """A text's vector is the mean of its word pieces' vectors: no order, no context. It averages every id it
    is given: pass the pieces without ``[CLS]`` and ``[SEP]`` (``tokenizer.encode(text)[1:-1]``)."""

    def __init__(self, vocab_size: int, dim: int = 128) -> None:
        super().__init__()
        self.table = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        nn.init.normal_(self.table.weight, std=dim ** -0.5)  # random vectors of length about 1

    def forward(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """One vector per id list, (n, dim); an empty list gives the zero vector. TypeError for ids that are
        not integers, `UnknownIDError` for ids outside the table."""
        if len(ids) == 0:
            raise EmptyInputError("no texts given; pass at least one id list.")
        if any(isinstance(row, (str, numbers.Integral)) or getattr(row, "ndim", 1) != 1 for row in ids):
            raise TypeError("ids must be a list of id lists, one per text; wrap a single text's ids as [ids].")
        device, n = self.table.weight.device, self.table.num_embeddings
        pieces = [i for row in ids for i in row]
        flat = torch.tensor(pieces, dtype=None if pieces else torch.long, device=device)  # its dtype inferred
        if flat.ndim != 1:
            raise TypeError("each text's ids must be a flat list of integers; got nested lists. Pass [ids, ...].")
        flat = check_ids("word-piece ids", flat, n, "Map pieces to the table's rows first (tokenizer.encode "
                         "gives them), or build a larger BagOfPieces.", UnknownIDError).long()
        offsets = torch.tensor([0] + [len(row) for row in ids[:-1]], device=device).cumsum(0)
        return self.table(flat, offsets)

    def embed(self, ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """The embedding of each id list: `forward`'s vectors (the name every model of inputs uses)."""
        return self(ids)


def train_pairs(
    embed_queries: Callable[[list[int]], torch.Tensor],
    embed_documents: Callable[[list[int]], torch.Tensor],
    parameters: Iterable[torch.Tensor], n_pairs: int, steps: int,
    batch_size: int = 32, lr: float = 1e-4, scale: float = 20.0, seed: int = 0,
    weight_decay: float = 0.0, on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Minimise the in-batch negatives loss for ``steps`` batches of pairs; return the
    loss of each step.

    ``embed_queries(indices)`` and ``embed_documents(indices)`` return the (batch, d)
    vectors of those pairs' queries and documents, with gradients. Each pass over
    the pairs is a fresh random order (``seed``); a last incomplete batch is skipped.
    AdamW, constant learning rate ``lr``. ``on_step(step, loss)``, if given, is
    called after each step (counting from 1): to evaluate or keep a copy of the model
    at chosen steps. ValueError for ``steps`` below 1 or an ``lr`` that is not a
    positive finite number.
    """
    if not 2 <= batch_size <= n_pairs:
        raise ValueError("batch_size must be between 2 and the number of pairs "
                         f"{n_pairs}; got {batch_size}.")
    check_positive("steps", steps), check_lr(lr)
    generator = seeded_generator(seed)
    optimizer = torch.optim.AdamW(list(parameters), lr=lr, weight_decay=weight_decay)
    order: list[int] = []
    losses = []
    for step in range(1, steps + 1):
        if len(order) < batch_size:
            order = torch.randperm(n_pairs, generator=generator).tolist()
        indices, order = order[:batch_size], order[batch_size:]
        loss = in_batch_negatives_loss(
            embed_queries(indices), embed_documents(indices), scale)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses
