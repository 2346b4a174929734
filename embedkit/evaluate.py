"""Intrinsic evaluation of word embeddings: analogies and word-similarity correlation.

`evaluate_analogies` answers the Google analogy questions (Mikolov et al. 2013a)
by 3CosAdd and reports accuracy per section; `evaluate_word_pairs` correlates the
cosine similarities of word pairs with human judgements (WordSim-353, SimLex-999)
by Spearman's rho. Both follow gensim's ``KeyedVectors.evaluate_word_analogies``
and ``evaluate_word_pairs`` rule for rule (candidates restricted to the first
``restrict_vocab`` words, case-insensitive matching, questions with unknown words
skipped and counted), so the numbers can be checked against gensim; the tests do.

Left out: 3CosMul, and the statistical significance of differences in scores.
"""

from __future__ import annotations

import math
import numbers
import os

from dataclasses import dataclass, field

import numpy as np
import torch

from .data import read_analogies, read_word_pairs
from .errors import EmptyInputError, ShapeError, check_positive, check_real, is_whole
from .table import EmbeddingTable


def _vocabulary(table: EmbeddingTable, restrict_vocab: int, case_insensitive: bool) -> dict[str, int]:
    """Key -> row of the first ``restrict_vocab`` words; the first spelling wins when case is folded."""
    if not is_whole(restrict_vocab) or restrict_vocab < 0:
        raise ValueError(f"restrict_vocab must be a whole number of words (default 300,000); got {restrict_vocab!r}.")
    keys: dict[str, int] = {}
    for i, word in enumerate(table.words[:restrict_vocab]):
        keys.setdefault(word.upper() if case_insensitive else word, i)
    return keys


@dataclass
class AnalogyResult:
    """Accuracy on analogy questions, overall and by section."""

    correct: int
    total: int  # questions answered (all four words known)
    skipped: int  # questions with a word outside the vocabulary
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (correct, total)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def table(self) -> list[tuple[str, int, int, float]]:
        """Rows ``(section, correct, total, accuracy)`` plus a final ``'total'`` row."""
        rows = [(name, c, t, c / t if t else 0.0) for name, (c, t) in self.sections.items()]
        return rows + [("total", self.correct, self.total, self.accuracy)]


def evaluate_analogies(table: EmbeddingTable, questions: list | None = None, restrict_vocab: int = 300_000,
                       case_insensitive: bool = True, batch_size: int = 2048) -> AnalogyResult:
    """Answer analogy questions ``(section, (a, b, c, d))`` by 3CosAdd; default: the Google set.

    The prediction is the best-scoring word among the first ``restrict_vocab``
    words, other than a, b and c; a question counts when that word is d.
    `EmptyInputError` if no question has all four words in the vocabulary.
    """
    questions = read_analogies() if questions is None else questions
    if len(questions) == 0:
        raise EmptyInputError("no analogy questions given.")
    check_positive("batch_size", batch_size)
    key = str.upper if case_insensitive else (lambda w: w)
    vocab = _vocabulary(table, restrict_vocab, case_insensitive)
    known, skipped = [], 0
    for question in questions:
        if not (isinstance(question, (tuple, list)) and len(question) == 2 and isinstance(question[1], (tuple, list))
                and len(question[1]) == 4 and all(isinstance(w, str) for w in question[1])):
            raise ValueError(f"each analogy question must be (section, (a, b, c, d)), four words; got {question!r}.")
        section, words = question
        keys = [key(w) for w in words]
        if all(k in vocab for k in keys):
            known.append((section, keys))
        else:
            skipped += 1
    if not known:
        raise EmptyInputError(
            f"none of the {len(questions)} analogy questions has all four words among the first {restrict_vocab:,} "
            "words of the table; check the words (and case_insensitive) or raise restrict_vocab."
        )
    per_section: dict[str, list[int]] = {}
    for section, _ in questions:
        per_section.setdefault(section, [0, 0])
    ids = torch.tensor([[vocab[k] for k in keys[:3]] for _, keys in known], dtype=torch.long,
                       device=table.device).reshape(-1, 3)
    for start in range(0, len(known), batch_size):
        batch = ids[start:start + batch_size]
        if batch.numel() == 0:
            break
        # gensim takes the top 5 and then skips case variants of the three inputs
        _, top = table.analogy_ids(batch[:, 0], batch[:, 1], batch[:, 2], k=5, restrict=restrict_vocab)
        for (section, keys), row in zip(known[start:start + batch_size], top.tolist()):
            predicted = None
            for candidate in row:
                predicted = key(table.words[candidate])
                if predicted in vocab and predicted not in keys[:3]:
                    break
            per_section[section][0] += predicted == keys[3]
            per_section[section][1] += 1
    sections = {name: (c, t) for name, (c, t) in per_section.items()}
    correct = sum(c for c, _ in sections.values())
    return AnalogyResult(correct, len(known), skipped, sections)


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    ranks = np.empty(len(x))
    average = (starts + ends + 1) / 2.0  # mean of positions start+1 .. end
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def _check_pair(x: np.ndarray, y: np.ndarray) -> None:
    """1-D, equal lengths and finite real values, or a ValueError (TypeError for complex numbers)."""
    check_real("x and y", x), check_real("x and y", y)
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise ShapeError(f"x and y must be 1-D; got {np.ndim(x)} and {np.ndim(y)} dimensions. Flatten them first.")
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}.")
    if not (np.isfinite(np.asarray(x, dtype=np.float64)).all() and np.isfinite(np.asarray(y, dtype=np.float64)).all()):
        raise ValueError("x and y must be finite numbers; drop the pairs with NaN or infinity first.")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation coefficient in float64; `EmptyInputError` for fewer than two pairs, ValueError for
    a constant input."""
    _check_pair(x, y)
    if len(x) < 2:
        raise EmptyInputError("a correlation needs at least two pairs.")
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    if denominator == 0:
        raise ValueError("correlation is undefined: one of the inputs is constant.")
    return float((x * y).sum() / denominator)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks."""
    _check_pair(x, y)
    if len(x) < 2:
        raise EmptyInputError("a correlation needs at least two pairs.")
    return pearson(rankdata(x), rankdata(y))


@dataclass
class WordPairResult:
    """How well cosine similarity ranks word pairs like people do."""

    spearman: float
    pearson: float
    pairs: int  # pairs with both words known
    skipped: int  # pairs with an unknown word


def evaluate_word_pairs(table: EmbeddingTable, pairs: str | list = "wordsim353", restrict_vocab: int = 300_000,
                        case_insensitive: bool = True) -> WordPairResult:
    """Correlate the table's cosine similarities with human scores on word pairs.

    ``pairs`` is ``'wordsim353'``, ``'simlex999'``, a file path, or a sequence of
    ``(word1, word2, score)``.
    """
    if isinstance(pairs, (str, os.PathLike)):
        pairs = read_word_pairs(pairs)
    else:  # any sequence of (word1, word2, score): a list, a tuple, ...
        pairs = list(pairs)
        bad = [p for p in pairs if not (isinstance(p, (tuple, list)) and len(p) == 3)]
        if bad:
            raise ValueError(f"word pairs must be (word1, word2, score) triples; got {bad[0]!r}.")
        bad = [p for p in pairs
               if isinstance(p[2], bool) or not isinstance(p[2], numbers.Real) or not math.isfinite(p[2])]
        if bad:
            raise ValueError(f"human scores must be finite numbers; got {bad[0]!r}. Drop or fix that pair.")
        bad = [p for p in pairs if not (isinstance(p[0], str) and isinstance(p[1], str))]
        if bad:
            raise TypeError(f"the two words of a pair must be strings; got {bad[0]!r}. Give words, not ids.")
    key = str.upper if case_insensitive else (lambda w: w)
    vocab = _vocabulary(table, restrict_vocab, case_insensitive)
    known = [(vocab[key(a)], vocab[key(b)], score) for a, b, score in pairs
             if key(a) in vocab and key(b) in vocab]
    if len(known) < 2:
        raise EmptyInputError(
            f"only {len(known)} of {len(pairs)} word pairs have both words in the vocabulary; "
            "a correlation needs at least two."
        )
    left = torch.tensor([a for a, _, _ in known], device=table.device)
    right = torch.tensor([b for _, b, _ in known], device=table.device)
    model = (table.unit[left] * table.unit[right]).sum(dim=1).cpu().numpy()
    human = np.array([s for _, _, s in known])
    return WordPairResult(spearman(human, model), pearson(human, model), len(known), len(pairs) - len(known))

