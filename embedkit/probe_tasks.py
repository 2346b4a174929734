"""Two real probing tasks for contextual vectors, and a layer-by-layer linear probe.

Which layer of a language model knows what? A *probe* answers it: freeze the
network, take the vectors one layer gives, and fit a small classifier on them
(Alain and Bengio 2016; Tenney et al. 2019). Two tasks built from the book's
offline data:

- `word_in_context_task`: a sentence of the news corpus and one word in it, whose
  label is the word's category in the analogy set (``"capital"``, ``"adverb"``,
  ``"past tense"`` ...; `embedkit.data.word_categories`). The split is **by word**:
  the test words never occur in training, so a probe must read the category off
  the vector, not memorise the word.
- `outlet_task`: a sentence of a news article, whose label is the article's
  outlet (`embedkit.corpora.news_sources`, nine of them). One sentence per article,
  so the split is by article too.

`probe_layers` fits a linear probe (`ridge_probe`: ridge regression onto one-hot
targets, scikit-learn's ``RidgeClassifier``, in closed form, so a whole grid of
penalties costs one eigendecomposition) on each layer's features and several
random splits, choosing the penalty on the validation part of each split.

Left out: control tasks (Hewitt and Liang 2019), non-linear probes, and
information-theoretic probing (MDL).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import torch

from .corpora import news_articles, news_sources, split_sentences, tokenize
from .data import word_categories
from .errors import EmptyInputError, ShapeError, check_ids, check_positive, check_whole, is_whole
from .device import float64_device
from .probe import check_labels


@dataclass
class ProbeTask:
    """Examples of a probing task: tokenised sentences, the probed word's position (-1: the whole
    sentence), an integer label per example, the class names, and the group (word or article) of each
    example, which `split` keeps on one side of the split."""

    name: str
    sentences: list[list[str]]
    positions: list[int]
    labels: torch.Tensor
    classes: list[str]
    groups: list[str]

    def __post_init__(self) -> None:
        self.labels = _check_labels(self.labels, len(self.classes))  # a list of labels becomes a tensor
        sizes = (len(self.sentences), len(self.positions), len(self.labels), len(self.groups))
        if len(set(sizes)) != 1:
            raise ShapeError(f"give one position, label and group per sentence; got {sizes[0]} sentences, "
                             f"{sizes[1]} positions, {sizes[2]} labels, {sizes[3]} groups.")

    def __len__(self) -> int:
        return len(self.sentences)

    def texts(self) -> list[str]:
        """The sentences as strings (words joined by spaces), for tokenisers that want text."""
        return [" ".join(words) for words in self.sentences]

    def split(self, seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Train, validation and test example indices; whole groups go to one part, chosen at random."""
        if len(fractions) != 3 or not all(f > 0 for f in fractions) or not abs(sum(fractions) - 1) <= 1e-9:
            raise ValueError(f"fractions must be three positive shares summing to 1, got {fractions}.")
        groups = sorted(set(self.groups))
        random.Random(check_whole("seed", seed)).shuffle(groups)
        n_train = round(fractions[0] * len(groups))
        n_val = round(fractions[1] * len(groups))
        part = {g: 0 for g in groups[:n_train]} | {g: 1 for g in groups[n_train:n_train + n_val]} \
            | {g: 2 for g in groups[n_train + n_val:]}
        which = torch.tensor([part[g] for g in self.groups])
        parts = tuple(torch.nonzero(which == p).flatten() for p in range(3))
        empty = [name for name, rows in zip(("train", "validation", "test"), parts) if len(rows) == 0]
        if empty:
            raise EmptyInputError(f"splitting {len(groups)} groups by {fractions} leaves the {empty[0]} part empty; "
                                  "use more groups (words or articles) or other fractions.")
        return parts


def _check_labels(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``labels`` as a 1-D int64 tensor (`probe.check_labels`) if they lie in 0..n_classes - 1; an error otherwise."""
    labels = check_labels(labels, len(labels))
    return check_ids("labels", labels, n_classes, error=ValueError,
                     hint="Map class names to indices first (one per class).")


def _task(name: str, rows: list[tuple[list[str], int, str, str]]) -> ProbeTask:
    if not rows:
        raise EmptyInputError(f"the {name} task found no examples; check the corpus and the word list.")
    classes = sorted({label for _, _, label, _ in rows})
    index = {c: i for i, c in enumerate(classes)}
    return ProbeTask(name, [r[0] for r in rows], [r[1] for r in rows],
                     torch.tensor([index[r[2]] for r in rows]), classes, [r[3] for r in rows])


def _article_sentences(text: str, max_words: int) -> list[list[str]]:
    return [words for words in (tokenize(s) for s in split_sentences(text, max_words=max_words)) if words]


def word_in_context_task(per_word: int = 3, words: Sequence[str] | None = None, min_words_per_class: int = 10,
                         max_words: int = 40, max_articles: int | None = None) -> ProbeTask:
    """Up to ``per_word`` news sentences for each analogy-set word, in corpus order; label = its category.

    ``words`` restricts the probed words (e.g. to a model's vocabulary); categories with fewer than
    ``min_words_per_class`` distinct words found are dropped, so every class can appear on both sides
    of a split by word. The position is the word's first occurrence in the sentence.
    """
    categories = word_categories()
    if words is not None:
        allowed = set(words)
        categories = {w: c for w, c in categories.items() if w in allowed}
    found: dict[str, list[tuple[list[str], int]]] = {}
    for _, text in news_articles(max_articles=max_articles):
        for sentence in _article_sentences(text, max_words):
            first = {}  # each word's first position, in the order the words first occur
            for position, word in enumerate(sentence):
                first.setdefault(word, position)
            for word, position in first.items():
                if word in categories and len(found.setdefault(word, [])) < per_word:
                    found[word].append((sentence, position))
    per_class: dict[str, int] = {}
    for word in found:
        per_class[categories[word]] = per_class.get(categories[word], 0) + 1
    rows = [(sentence, position, categories[word], word) for word, hits in sorted(found.items())
            for sentence, position in hits if per_class[categories[word]] >= min_words_per_class]
    return _task("word category", rows)


def outlet_task(per_outlet: int = 250, sentence_index: int = 1, min_words: int = 8, max_words: int = 40,
                seed: int = 0) -> ProbeTask:
    """One sentence (the ``sentence_index``-th of the text) from ``per_outlet`` random articles of each
    outlet; label = the outlet. The first sentence (index 0) often names the outlet or its city line.
    Raises ValueError if ``per_outlet`` is below 1 or ``sentence_index`` below 0."""
    check_positive("per_outlet", per_outlet)
    whole = is_whole(sentence_index)
    if not (whole and sentence_index >= 0):  # -1 would pick the last sentence, or fail on a short text
        raise ValueError(f"sentence_index must be a whole number of at least 0 (0: each article's first "
                         f"sentence); got {sentence_index!r}.")
    by_outlet: dict[str, list[tuple[list[str], str]]] = {}
    for i, ((_, text), outlet) in enumerate(zip(news_articles(), news_sources())):
        sentences = [s for s in _article_sentences(text, max_words) if len(s) >= min_words]
        if len(sentences) > sentence_index:
            by_outlet.setdefault(outlet, []).append((sentences[sentence_index], f"article {i}"))
    rng = random.Random(check_whole("seed", seed))
    rows = []
    for outlet, examples in sorted(by_outlet.items()):
        for sentence, article in sorted(rng.sample(examples, min(per_outlet, len(examples))), key=lambda e: e[1]):
            rows.append((sentence, -1, outlet, article))
    return _task("news outlet", rows)


def ridge_probe(x_train: torch.Tensor, y_train: torch.Tensor, n_classes: int,
                l2_grid: Sequence[float]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Ridge-regression classifiers (least squares onto one-hot targets, +1/-1 coded as
    scikit-learn's ``RidgeClassifier``), one ``(weight, bias)`` per penalty in
    ``l2_grid``, from one eigendecomposition.

    With centred ``X`` and targets ``Y``: ``W = (X^T X + l2 I)^{-1} X^T Y``; predict
    ``argmax(x W + b)``. ``l2 = 0`` is least squares, the minimum-norm solution where
    ``X^T X`` is singular. Computed in float64 where ``x_train`` is (on the CPU for MPS
    data: MPS has no float64). No rows raise `EmptyInputError`; NaN or infinity in
    ``x_train``, or a penalty that is negative or NaN, ValueError.
    """
    _check_probe_input(x_train, y_train, n_classes, l2_grid)
    x = x_train.to(float64_device(x_train.device), torch.float64)
    mean = x.mean(0)
    xc = x - mean
    targets = -torch.ones(len(y_train), n_classes, dtype=torch.float64, device=x.device)
    targets[torch.arange(len(y_train)), y_train.to(x.device)] = 1.0
    y_mean = targets.mean(0)
    evals, evecs = torch.linalg.eigh(xc.T @ xc)
    projected = evecs.T @ (xc.T @ (targets - y_mean))
    fits = []
    for l2 in l2_grid:
        scale = evals.clamp(min=0) + l2
        if l2 == 0:
            # least squares: directions without variance (d > n, constant features)
            # get no weight
            kept = evals > evals.max() * max(xc.shape) * torch.finfo(evals.dtype).eps
            scale = torch.where(kept, scale, torch.inf)
        weight = evecs @ (projected / scale[:, None])
        fits.append((weight, y_mean - mean @ weight))
    return fits


def _check_probe_input(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2_grid: Sequence[float]) -> None:
    """At least one row of finite x, one label in range per row, and a non-empty grid of non-negative
    penalties: `ShapeError`, `EmptyInputError` or ValueError otherwise."""
    if x.ndim != 2 or len(x) != len(y):
        raise ShapeError(f"x_train must be (n, d) with one label per row; got {tuple(x.shape)} and {len(y)} labels.")
    if len(x) == 0:
        raise EmptyInputError("x_train has no rows: there is nothing to fit; check the training split.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x_train contains NaN or infinity; remove or impute those rows first.")
    _check_labels(y, n_classes)
    if len(l2_grid) == 0:
        raise EmptyInputError("l2_grid is empty; give at least one penalty, e.g. (1.0,).")
    if not all(l2 >= 0 for l2 in l2_grid):  # not `l2 < 0`: that lets NaN through
        raise ValueError(f"l2 penalties must be non-negative numbers, got {list(l2_grid)}.")


def probe_layers(features: Sequence[torch.Tensor], task: ProbeTask, seeds: Sequence[int] = (0, 1, 2),
                 l2_grid: Sequence[float] = (1e-1, 1e0, 1e1, 1e2, 1e3)) -> torch.Tensor:
    """Test accuracy of a linear (ridge) probe on each layer's features ``(n, d)``, for each seed's split:
    a ``(layers, seeds)`` tensor. Features are standardised on the training part; the penalty with the
    best validation accuracy is scored once on the test part. Features that are not ``(n, d)`` raise
    `ShapeError`, features with NaN or infinity ValueError, both naming the layer."""
    if not features:
        raise EmptyInputError("no layer features given; pass one (n, d) tensor per layer.")
    if len(seeds) == 0:
        raise EmptyInputError("no seeds given; pass at least one, e.g. seeds=(0,).")
    for layer, x in enumerate(features):
        if x.ndim != 2 or x.shape[0] != len(task):
            raise ShapeError(f"layer {layer}: features must be (n={len(task)}, d); got {tuple(x.shape)}.")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"layer {layer}: features contain NaN or infinity; check how that layer's vectors "
                             "were computed (an overflow in float16?).")
    scores = torch.zeros(len(features), len(seeds), dtype=torch.float64)
    for j, seed in enumerate(seeds):
        train, val, test = task.split(seed)
        for layer, x in enumerate(features):
            x = x.detach().cpu().double()  # small: float64 on the CPU, on every device
            y = task.labels.to(x.device)
            mean, std = x[train].mean(0), x[train].std(0).clamp(min=1e-6)
            z = (x - mean) / std  # one penalty grid then suits every layer
            fits = ridge_probe(z[train], y[train], len(task.classes), l2_grid)

            def accuracy(fit: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor) -> float:
                return float(((z[rows] @ fit[0] + fit[1]).argmax(1) == y[rows]).double().mean())

            best = max(fits, key=lambda fit: accuracy(fit, val))  # first of the best on ties
            scores[layer, j] = accuracy(best, test)
    return scores
