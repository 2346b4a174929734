"""Dense retrieval: the in-batch negatives loss, retrieval metrics, and query-document pairs from the news.

- `in_batch_negatives_loss` is InfoNCE over a batch of (query, positive) pairs
  (the loss of DPR, Karpukhin et al. 2020, and of sentence-transformers'
  ``MultipleNegativesRankingLoss``): each query must pick its own positive among
  all the positives of the batch, plus the batch's hard negatives when given, by
  cosine similarity times ``scale``. It equals ``MultipleNegativesRankingLoss``
  (sentence-transformers 6.2, default settings) in value and gradient.
- `retrieval_metrics` scores a ``queries x documents`` score matrix against the
  relevant documents of each query: recall@k, MRR@10 and nDCG@10.
- `news_retrieval_pairs` makes (title, opening words) pairs from the news
  articles of `corpora.news_articles`, split by article into train, validation
  and test: a title is a short query, its article's opening the document to find.

Left out: the symmetric (document-to-query) and same-type terms, hardness
weighting and gathering across devices that ``MultipleNegativesRankingLoss``
offers as options; several hard negatives per query; graded relevance (gains
are 0 or 1); approximate nearest-neighbour search (scores are a dense matrix).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .device import seeded_generator, widest_float
from .errors import EmptyInputError, ShapeError, UnknownIDError, check_ids


def in_batch_negatives_loss(
    queries: torch.Tensor, positives: torch.Tensor, scale: float = 20.0,
    hard_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """InfoNCE for (N, d) queries and their (N, d) positives: the mean cross-entropy of
    picking the own positive.

    Logits are ``scale`` times the cosine similarity of each query to every
    candidate: the N positives, then, if ``hard_negatives`` (N, d) is given, the N
    hard negatives. As in sentence-transformers, every query sees the hard
    negatives of the whole batch, not only its own (2N candidates per query).
    ``scale`` is one over the temperature. The loss is computed on ``queries``'s device.
    """
    if queries.ndim != 2 or positives.shape != queries.shape:
        raise ShapeError("queries and positives must be (N, d) of the same shape, "
                         "row i of positives the match of query i; "
                         f"got {tuple(queries.shape)} and {tuple(positives.shape)}.")
    if hard_negatives is not None and hard_negatives.shape != queries.shape:
        raise ShapeError("hard_negatives must be (N, d) like queries, one per query; "
                         f"got {tuple(hard_negatives.shape)} for queries of shape "
                         f"{tuple(queries.shape)}. "
                         "Pass one hard negative per query, or None.")
    if not queries.is_floating_point():
        raise TypeError(f"embeddings must be floating point; got {queries.dtype}. "
                        "Convert with .float().")
    if len(queries) < 2:
        raise ValueError("in_batch_negatives_loss needs at least 2 pairs per batch "
                         "(the other pairs' positives are the negatives); "
                         f"got {len(queries)}.")
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive finite number "
                         f"(1 / temperature; 20 is usual); got {scale}.")
    columns = [positives] if hard_negatives is None else [positives, hard_negatives]
    candidates = torch.cat([c.to(queries.device, queries.dtype) for c in columns])
    logits = F.normalize(queries, dim=-1) @ F.normalize(candidates, dim=-1).T * scale
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def _whole(value: object, what: str) -> int:
    """``value`` as an int if it is an integer (Python, numpy or a one-element tensor), else a TypeError."""
    try:
        if not isinstance(value, (bool, np.bool_, str, bytes)):
            return operator.index(value)
    except TypeError:
        pass
    raise TypeError(f"{what} must be integers; got {type(value).__name__} {value!r}.")


def _relevance_mask(relevant: torch.Tensor | Sequence[Iterable[int]], n_queries: int, n_documents: int,
                    device: torch.device) -> torch.Tensor:
    """A (n_queries, n_documents) bool matrix, True where a document is relevant to a query."""
    if isinstance(relevant, np.ndarray):
        relevant = torch.as_tensor(relevant)
    if isinstance(relevant, torch.Tensor):
        if relevant.ndim != 1:
            raise ShapeError(f"a tensor of relevant ids must be 1-D, one document id per query; got shape "
                             f"{tuple(relevant.shape)}. For several relevant documents per query pass a list of sets.")
        rows = [[int(i)] for i in check_ids("relevant ids", relevant).tolist()]
    else:
        if isinstance(relevant, (str, bytes)):
            raise TypeError("relevant must be a 1-D integer tensor or array, or a list of sets of ids; got a string.")
        rows = []
        for ids in relevant:
            if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable) or (
                    isinstance(ids, (torch.Tensor, np.ndarray)) and ids.ndim == 0):
                rows.append([_whole(ids, "relevant document ids")])  # one id, such as 3 or np.int64(3)
            else:
                rows.append(sorted({_whole(i, "relevant document ids") for i in ids}))
    if len(rows) != n_queries:
        raise ShapeError(f"relevant has {len(rows)} entries but scores has {n_queries} queries (rows); "
                         "give one entry per query, in the order of the rows.")
    for q, ids in enumerate(rows):
        if not ids:
            raise EmptyInputError(f"query {q} has no relevant document, so its recall is undefined; "
                                  "drop such queries (and their rows of scores) first.")
        bad = [i for i in ids if not 0 <= i < n_documents]
        if bad:
            raise UnknownIDError(f"query {q}: relevant document id {bad[0]} is not a column of scores "
                                 f"(ids run from 0 to {n_documents - 1}); ids are column indices of scores.")
    mask = torch.zeros(n_queries, n_documents, dtype=torch.bool)
    mask[[q for q, ids in enumerate(rows) for _ in ids], [i for ids in rows for i in ids]] = True
    return mask.to(device)


def retrieval_metrics(scores: torch.Tensor | np.ndarray, relevant: torch.Tensor | Sequence[Iterable[int]],
                      ks: Sequence[int] = (1, 10), per_query: bool = False) -> dict[str, float] | dict[str, torch.Tensor]:
    """Recall@k for each k in ``ks``, MRR@10 and nDCG@10 of a (n_queries, n_documents) score matrix (a tensor
    or a numpy array).

    ``relevant`` gives each query's relevant document ids (column indices of
    ``scores``): a 1-D integer tensor or numpy array with one id per query, or a
    list of sets (a plain int in the list stands for a set of one). Each k in
    ``ks`` is a whole number from 1 to the number of documents: with fewer than
    10 documents, pass smaller ``ks`` than the default, such as ``(1,)``.
    Documents are ranked by decreasing score, ties by increasing id.

    - ``recall@k``: the fraction of the query's relevant documents found in its
      top k (the standard definition; with one relevant document per query it is
      the hit rate, "is it in the top k"), averaged over queries.
    - ``mrr@10``: one over the rank of the first relevant document, 0 if none is
      in the top 10, averaged over queries.
    - ``ndcg@10``: discounted cumulative gain of the top 10 with binary gains,
      ``sum 1 / log2(rank + 1)`` over the relevant documents found, divided by
      its best possible value, averaged over queries.

    With fewer than 10 documents, MRR@10 and nDCG@10 rank them all.
    ``per_query=True`` returns each query's values instead of their means, as
    float64 tensors (n_queries,) on the device of ``scores`` (float32 on MPS; for bootstrap intervals).
    """
    if isinstance(relevant, dict):  # iterating a dict gives its keys: they would be read as document ids
        raise TypeError("relevant must be a list with one entry per query, in the rows' order, not a dict; "
                        "use [relevant[q] for q in range(n_queries)].")
    scores = torch.as_tensor(scores)  # (a numpy array too)
    if scores.ndim != 2:
        raise ShapeError(f"scores must be a queries x documents matrix; got shape {tuple(scores.shape)}.")
    n_queries, n_documents = scores.shape
    if n_queries == 0 or n_documents == 0:
        raise EmptyInputError(f"scores is empty (shape {tuple(scores.shape)}): give at least one query and one document.")
    if scores.is_complex() or scores.dtype == torch.bool:
        raise TypeError(f"scores must be real numbers; got {scores.dtype}.")
    if torch.isnan(scores).any():
        raise ValueError("scores hold NaN; rank with finite scores (use -inf to rule a document out).")
    try:
        ks = [_whole(k, "ks") for k in ks]
    except TypeError as error:  # a float, a string, or a single number instead of a sequence
        raise ValueError(f"ks must be a sequence of whole numbers such as (1, 10); {error}") from None
    bad = [k for k in ks if not 1 <= k <= n_documents]
    if bad:
        raise ValueError(f"every k in ks must be between 1 and the number of documents, {n_documents}; got {bad[0]}. "
                         "Pass smaller ks, such as ks=(1,).")
    scores = scores.detach()
    mask = _relevance_mask(relevant, n_queries, n_documents, scores.device)
    depth = max(ks + [min(10, n_documents)])
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :depth]
    wide = widest_float(scores.device)
    hits = mask.gather(1, order).to(wide)  # (queries, depth): 1 where the document at that rank is relevant
    n_relevant = mask.sum(dim=1).to(wide)
    cut = min(10, n_documents)
    ranks = torch.arange(1, depth + 1, device=scores.device, dtype=wide)
    first = torch.where(hits[:, :cut] > 0, ranks[:cut], torch.inf).min(dim=1).values
    discounts = 1 / torch.log2(ranks[:cut] + 1)
    ideal = torch.cumsum(discounts, 0)[n_relevant.clamp(max=cut).long() - 1]
    values = {f"recall@{k}": hits[:, :k].sum(1) / n_relevant for k in ks}
    values["mrr@10"] = 1 / first
    values["ndcg@10"] = (hits[:, :cut] * discounts).sum(1) / ideal
    if per_query:
        return values
    return {name: float(v.mean()) for name, v in values.items()}


@dataclass
class RetrievalPairs:
    """(query, document) pairs split by article; ``articles[split]`` are the indices into `corpora.news_articles`."""

    train: list[tuple[str, str]]
    validation: list[tuple[str, str]]
    test: list[tuple[str, str]]
    articles: dict[str, list[int]] = field(default_factory=dict, repr=False)


def news_retrieval_pairs(seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                         opening_words: int = 64) -> RetrievalPairs:
    """(title, first ``opening_words`` words of the text) of each news article, split by article.

    Articles with an empty title are dropped, and so are exact repeats of an
    earlier article (same title and text; the corpus holds two), which would
    otherwise leak between the splits. Each remaining article lands in exactly
    one split, at random (the same for the same ``seed``); the split sizes are
    ``fractions`` of the articles, rounded. Whitespace in the opening is
    collapsed to single spaces.
    """
    from .corpora import news_articles

    if len(fractions) != 3 or any(not f > 0 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be three positive shares (train, validation, test) that sum to 1; "
                         f"got {tuple(fractions)}.")
    if isinstance(opening_words, bool) or not isinstance(opening_words, int) or opening_words < 1:
        raise ValueError(f"opening_words must be a positive whole number of words; got {opening_words!r}.")
    articles, seen, usable = news_articles(), set(), []
    for index, (title, text) in enumerate(articles):
        if title.strip() and (title, text) not in seen:
            seen.add((title, text))
            usable.append(index)
    order = torch.randperm(len(usable), generator=seeded_generator(seed)).tolist()
    n_train = round(len(usable) * fractions[0])
    n_validation = round(len(usable) * fractions[1])
    parts = {"train": order[:n_train], "validation": order[n_train:n_train + n_validation],
             "test": order[n_train + n_validation:]}
    for name, part in parts.items():
        if not part:
            raise ValueError(f"fractions {tuple(fractions)} leave the {name} split empty; give it a larger share.")
    chosen = {name: sorted(usable[i] for i in part) for name, part in parts.items()}

    def pairs(indices: list[int]) -> list[tuple[str, str]]:
        return [(articles[i][0].strip(), " ".join(articles[i][1].split()[:opening_words])) for i in indices]

    return RetrievalPairs(pairs(chosen["train"]), pairs(chosen["validation"]), pairs(chosen["test"]), chosen)
