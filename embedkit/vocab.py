"""A vocabulary: word counts, word ids, frequent-word subsampling and the noise distribution.

- `Vocabulary.build` counts words, keeps those seen at least ``min_count``
  times (most frequent first) and `Vocabulary.encode` turns sentences into one
  flat id tensor plus the sentence number of each word.
- `Vocabulary.keep_probabilities` is frequent-word subsampling and
  `Vocabulary.noise_distribution` the unigram^0.75 distribution that negative
  samples are drawn from, both as in Mikolov et al. (2013b) and the C tool.

Left out: sub-word units (see `wordpiece` for BERT's) and a reserved id for
unknown words: out-of-vocabulary words are dropped, as word2vec.c and gensim do.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from .errors import EmptyInputError, UnknownWordError, check_finite, check_positive


def _word_lists(sentences: Iterable[Sequence[str]]) -> Iterator[Sequence[str]]:
    """Each sentence in turn, checked: `TypeError` if one is a string (a text not yet split into words)."""
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError("sentences must be lists of words, not strings; use tokenize(text) first.")
        yield sentence


@dataclass
class Vocabulary:
    """Words seen at least ``min_count`` times, most frequent first, with their counts."""

    words: list[str]
    counts: torch.Tensor  # int64, one count per word, in the order of `words`

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None) -> "Vocabulary":
        """Count words; keep those seen ``min_count`` times or more (at most ``max_size``, most frequent).

        Raises ValueError if ``min_count`` or ``max_size`` (None: no limit) is below 1, and
        `EmptyInputError` if no word is left."""
        min_count = check_positive("min_count", min_count)
        if max_size is not None:  # -1 would silently drop the rarest word
            check_positive("max_size", max_size)
        counter: Counter[str] = Counter(chain.from_iterable(_word_lists(sentences)))
        if not counter:
            raise EmptyInputError("the corpus is empty: no words to build a vocabulary from.")
        # most frequent first; ties broken alphabetically so the order is reproducible
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_size is not None:
            kept = kept[:max_size]
        if not kept:
            raise EmptyInputError(
                f"no word occurs {min_count} times or more in a corpus of {sum(counter.values()):,} words; "
                "lower min_count or use more text."
            )
        return cls([w for w, _ in kept], torch.tensor([c for _, c in kept], dtype=torch.long))

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    @property
    def total(self) -> int:
        """Number of corpus words that are in the vocabulary."""
        return int(self.counts.sum())

    def id(self, word: str) -> int:
        """The id of one word; `UnknownWordError` if it was rare or unseen."""
        if word not in self.index:
            raise UnknownWordError([word], " It was not in the corpus, or seen fewer than min_count times.")
        return self.index[word]

    def encode(self, sentences: Iterable[Sequence[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """All in-vocabulary words as one flat id tensor, plus the sentence number of each word.

        Out-of-vocabulary words are dropped before windows are formed, as in word2vec.c and gensim.
        """
        sentences = list(_word_lists(sentences))
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        # one pass over all words at C speed: the id of each, -1 for a word not in the vocabulary
        ids = np.fromiter(map(self.index.get, chain.from_iterable(sentences), repeat(-1)), dtype=np.int64,
                          count=int(lengths.sum()))
        sentence_of = np.repeat(np.arange(len(sentences)), lengths)
        known = ids >= 0
        if not known.any():
            raise EmptyInputError("none of the words in these sentences is in the vocabulary.")
        return torch.from_numpy(ids[known]), torch.from_numpy(sentence_of[known])

    def keep_probabilities(self, sample: float = 1e-3) -> torch.Tensor:
        """Probability of keeping each occurrence of a word under frequent-word subsampling.

        The formula of word2vec.c and gensim, ``(sqrt(f / (s * T)) + 1) * (s * T) / f`` for a word
        seen ``f`` times among ``T``, capped at 1; ``sample=0`` keeps everything.
        """
        check_finite("sample (the subsampling threshold)", sample, allow_zero=True, hint=" Use 0 to keep every word.")
        if sample == 0:
            return torch.ones(len(self), dtype=torch.float64)
        threshold = sample * self.total
        f = self.counts.double()
        return ((f / threshold).sqrt() + 1).mul(threshold / f).clamp(max=1.0)

    def noise_distribution(self, power: float = 0.75) -> torch.Tensor:
        """The distribution negative samples are drawn from: counts ** power, normalised."""
        if not isinstance(power, numbers.Real) or isinstance(power, bool) or not math.isfinite(power):
            raise ValueError(f"power must be a finite number (0.75 in word2vec; 0: uniform), got {power!r}.")
        weights = self.counts.double() ** power
        return weights / weights.sum()
