"""One embedding table for the whole book: words and their vectors on a device.

`EmbeddingTable` holds a vocabulary (a list of unique strings) and a float32
matrix with one row per word. It answers the questions every chapter asks of an
embedding: the vector of a word, the cosine similarity of two words, the top-k
neighbours of a word or of any vector, and analogies "a is to b as c is to ?"
by 3CosAdd (Mikolov et al. 2013). Everything is batched matrix algebra on the
table's device; large batches are processed in chunks to bound memory.

Left out: approximate nearest-neighbour indexes (exact search over 400,000
words takes milliseconds; `search` has them), other analogy rules such as 3CosMul, and training:
the chapters' models produce tables, this class only reads them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .device import get_device
from .errors import (EmptyInputError, ShapeError, UnknownIDError, UnknownWordError, check_positive, check_ids,
                     check_real)

Query = str | Sequence[str] | torch.Tensor | np.ndarray

# Scores are computed for at most this many (query, word) pairs at a time (~128 MB of float32).
CHUNK_ELEMENTS = 2**25


class EmbeddingTable:
    """Words plus an ``(n_words, dim)`` float32 tensor of vectors on one device."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor | np.ndarray,
                 device: str | torch.device | None = None) -> None:
        words = list(words)
        if not words:
            raise EmptyInputError("an embedding table needs at least one word; got an empty vocabulary.")
        bad = [w for w in words if not isinstance(w, str)]
        if bad:
            raise TypeError(f"words must be strings; got {type(bad[0]).__name__} {bad[0]!r}.")
        vectors = torch.as_tensor(np.asarray(vectors) if isinstance(vectors, np.ndarray) else vectors)
        check_real("vectors", vectors)
        if vectors.ndim != 2:
            raise ShapeError(f"vectors must be a 2-D (n_words, dim) matrix; got shape {tuple(vectors.shape)}.")
        if vectors.shape[0] != len(words):
            raise ShapeError(f"{len(words)} words but {vectors.shape[0]} vectors: give one row per word.")
        if vectors.shape[1] == 0:
            raise ShapeError("vectors have 0 columns; an embedding needs at least one dimension.")
        self.index: dict[str, int] = {}
        dupes = []
        for i, w in enumerate(words):
            if self.index.setdefault(w, i) != i:
                dupes.append(w)
        if dupes:
            raise ValueError(f"duplicate words in the vocabulary: {dupes[:5]}; each word must appear once.")
        self.words = words
        self.device = get_device(device)
        # A copy, detached: the table never shares storage with a model's weights or the caller's array,
        # so training on after `table()` cannot change it (nor make the cached unit vectors stale).
        self.vectors = vectors.detach().to(device=self.device, dtype=torch.float32, copy=True)
        finite = torch.isfinite(self.vectors).all(dim=1)
        if not bool(finite.all()):
            rows = torch.nonzero(~finite).flatten()[:5].tolist()
            raise ValueError(f"vectors contain NaN or infinity, e.g. for {[words[r] for r in rows]}; fix the model or data.")
        self._unit: torch.Tensor | None = None

    @classmethod
    def glove_6b_50d(cls, device: str | torch.device | None = None) -> "EmbeddingTable":
        """The pretrained GloVe 6B 50-d table (400,000 lower-case words), checksum-verified."""
        from .data import load_glove_arrays

        words, vectors = load_glove_arrays()
        return cls(words, vectors, device)

    # -- basics ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"EmbeddingTable({len(self):,} words x {self.dim} dims, device={self.device.type})"

    @property
    def dim(self) -> int:
        """Number of dimensions of each vector."""
        return self.vectors.shape[1]

    @property
    def unit(self) -> torch.Tensor:
        """The vectors scaled to unit length (all-zero rows stay zero); computed once."""
        if self._unit is None:
            norms = self.vectors.norm(dim=1, keepdim=True)
            self._unit = self.vectors / norms.clamp_min(torch.finfo(torch.float32).tiny)
        return self._unit

    def to(self, device: str | torch.device) -> "EmbeddingTable":
        """A copy of this table on another device."""
        return EmbeddingTable(self.words, self.vectors, device)

    def head(self, n: int) -> "EmbeddingTable":
        """The first ``n`` words (the most frequent ones, for tables sorted by frequency)."""
        n = check_positive("n", n)
        return EmbeddingTable(self.words[:n], self.vectors[:n], self.device)

    def subset(self, words: Sequence[str]) -> "EmbeddingTable":
        """A table restricted to ``words``, in that order."""
        return EmbeddingTable(list(words), self.vectors[self.ids(words)], self.device)

    def ids(self, words: str | Sequence[str]) -> torch.Tensor:
        """Row indices of ``words`` as a LongTensor; `UnknownWordError` names every missing word, TypeError
        refuses a position (an int or a slice) in place of words."""
        if isinstance(words, (int, np.integer, slice, torch.Tensor)) or (
                isinstance(words, np.ndarray) and words.dtype.kind not in "UO"):  # positions, not words
            raise TypeError(f"index by word, not by position (got {words!r}); t.words[i] is row i's word and "
                            "t.vectors[i] its vector.")
        single = isinstance(words, str)
        words = [words] if single else list(words)
        if not words:
            raise EmptyInputError("no words given; pass a word or a non-empty list of words.")
        bad = [w for w in words if not isinstance(w, str)]
        if bad:
            raise TypeError(f"words must be strings; got {type(bad[0]).__name__} {bad[0]!r}.")
        missing = [w for w in words if w not in self.index]
        if missing:
            lower = [w for w in missing if w.lower() in self.index]
            hint = (f" Did you mean {lower[0].lower()!r}? This vocabulary is case-sensitive." if lower else "")
            raise UnknownWordError(missing, hint)
        ids = torch.tensor([self.index[w] for w in words], dtype=torch.long, device=self.device)
        return ids[0] if single else ids

    def __getitem__(self, words: str | Sequence[str]) -> torch.Tensor:
        """The vector of a word, or an ``(n, dim)`` matrix for a list of words (TypeError for ``t[0]``: see `ids`)."""
        return self.vectors[self.ids(words)]

    # -- similarity --------------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words; TypeError for anything but two strings (see `similarities`)."""
        if not (isinstance(a, str) and isinstance(b, str)):
            raise TypeError(f"similarity takes two words (strings); got {type(a).__name__} and {type(b).__name__}. "
                            "For many pairs use similarities([(a, b), ...]); for one word against all, cosine(word).")
        return float(self.unit[self.ids(a)] @ self.unit[self.ids(b)])

    def similarities(self, pairs: Sequence[tuple[str, str]]) -> torch.Tensor:
        """Cosine similarities of many word pairs at once (a 1-D tensor)."""
        if len(pairs) == 0:
            raise EmptyInputError("no word pairs given.")
        bad = [p for p in pairs if isinstance(p, str) or len(p) != 2]
        if bad:
            raise ShapeError(f"pairs must be (word, word) tuples; got {bad[0]!r}.")
        left = self.unit[self.ids([a for a, _ in pairs])]
        right = self.unit[self.ids([b for _, b in pairs])]
        return (left * right).sum(dim=1)

    def _as_matrix(self, query: Query) -> tuple[torch.Tensor, list[list[int]], bool]:
        """Turn a query into unit-length rows, the ids to exclude per row, and whether it was single."""
        if isinstance(query, np.ndarray) and query.dtype.kind == "U":  # words in a numpy array, as `ids` takes
            query = query.tolist()
        if isinstance(query, str) or (isinstance(query, Sequence) and not isinstance(query, torch.Tensor)
                                      and len(query) > 0 and all(isinstance(q, str) for q in query)):
            ids = self.ids(query)
            single = ids.ndim == 0
            ids = ids.reshape(-1)
            return self.unit[ids], [[i] for i in ids.tolist()], single
        if isinstance(query, Sequence) and len(query) == 0:
            raise EmptyInputError("empty query; pass a word, a list of words, or vectors.")
        if isinstance(query, Sequence) and any(isinstance(q, str) for q in query):
            raise TypeError("a query is words or vectors, not a mix; got "
                            f"{[type(q).__name__ for q in query][:5]}. Pass a list of strings.")
        check_real("query vectors", query)
        x = torch.as_tensor(query, dtype=torch.float32, device=self.device)
        single = x.ndim == 1
        x = x.reshape(1, -1) if single else x
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ShapeError(f"query vectors must have shape ({self.dim},) or (n, {self.dim}); got {tuple(x.shape)}.")
        if x.shape[0] == 0:
            raise EmptyInputError("empty query; pass at least one vector.")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("query vectors contain NaN or infinity; pass finite vectors.")
        norms = x.norm(dim=1, keepdim=True)
        if not bool((norms > 0).all()):
            raise ValueError(f"query vector {int((norms == 0).nonzero()[0, 0])} has length 0: its cosine with any "
                             "word is undefined; pass a vector with at least one non-zero component.")
        return x / norms.clamp_min(1e-30), [[] for _ in range(x.shape[0])], single

    def cosine(self, query: Query) -> torch.Tensor:
        """Cosine similarity of each query (word or vector) to every word: ``(n_queries, n_words)``.

        Query vectors must be finite and not all zeros (ValueError)."""
        return self._as_matrix(query)[0] @ self.unit.T

    def _topk(self, x: torch.Tensor, exclude: list[list[int]], k: int,
              restrict: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        unit = self.unit if restrict is None else self.unit[:restrict]
        # the most words any row excludes from the candidates: k is capped so that none is returned
        excluded = max((len({c for c in cols if c < unit.shape[0]}) for cols in exclude if cols), default=0)
        if unit.shape[0] <= excluded:
            raise EmptyInputError(f"no word is left to return: a query excludes all {unit.shape[0]} candidates; "
                                  "use a larger table (or a larger restrict).")
        k = min(k, unit.shape[0] - excluded)
        chunk = max(1, CHUNK_ELEMENTS // unit.shape[0])
        scores_out, ids_out = [], []
        for start in range(0, x.shape[0], chunk):
            scores = x[start:start + chunk] @ unit.T
            masked = [(r, col) for r, cols in enumerate(exclude[start:start + chunk])
                      for col in cols if col < unit.shape[0]]
            if masked:
                rows, cols = zip(*masked)
                scores[list(rows), list(cols)] = -torch.inf
            top = scores.topk(k, dim=1)
            scores_out.append(top.values)
            ids_out.append(top.indices)
        return torch.cat(scores_out), torch.cat(ids_out)

    def neighbours(self, query: Query, k: int = 10) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """Top-``k`` words by cosine similarity to a word (itself excluded), words, or vectors.

        A single word or vector gives one list of ``(word, score)``; several give a list of lists.
        ``k`` is capped at the number of words left after the exclusion (as gensim's ``most_similar``),
        so a query word is never returned. Query vectors must be finite and not all zeros (ValueError).
        """
        k = check_positive("k", k)
        x, exclude, single = self._as_matrix(query)
        scores, ids = self._topk(x, exclude, k)
        result = [[(self.words[i], round(float(s), 6)) for i, s in zip(row_ids.tolist(), row_scores.tolist())]
                  for row_ids, row_scores in zip(ids, scores)]
        return result[0] if single else result

    # -- analogies ---------------------------------------------------------------------------
    def _check_questions(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, k: int,
                         restrict: int | None) -> tuple[list[list[int]], int, int | None]:
        """The rows ``[a, b, c]`` as lists, ``k`` and ``restrict``, after checking them."""
        a, b, c = (check_ids(f"{name} (row ids)", t, hint="Get them with `table.ids(words)`.")
                   for name, t in zip("abc", (a, b, c)))
        if not (a.shape == b.shape == c.shape) or a.ndim != 1:
            raise ShapeError(f"a, b, c must be 1-D id tensors of equal length; got {a.shape}, {b.shape}, {c.shape}.")
        if a.numel() == 0:
            raise EmptyInputError("no analogy questions given.")
        rows = torch.stack([a, b, c], dim=1).tolist()
        low, high = min(min(row) for row in rows), max(max(row) for row in rows)
        if low < 0 or high >= len(self):
            raise UnknownIDError(f"word id {low if low < 0 else high} is out of range: ids run from 0 to "
                                 f"{len(self) - 1}; get them with `table.ids(words)`.")
        return rows, check_positive("k", k), None if restrict is None else check_positive("restrict", restrict)

    def analogy_ids(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, k: int = 1,
                    restrict: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched 3CosAdd on row ids: top-``k`` scores and ids of ``b - a + c``,
        excluding a, b, c.

        The query is the normalised mean of the unit vectors of b, c and -a, as in
        word2vec's ``compute-accuracy`` and gensim; ``restrict`` limits candidates
        to the first ``restrict`` words (at least 1; more than the table means all).
        ``k`` is capped at the candidates left once a question's a, b, c are excluded
        (the most any question excludes), so an input word is never returned.
        """
        exclude, k, restrict = self._check_questions(a, b, c, k, restrict)
        u = self.unit
        x = torch.stack([u[b], u[c], -u[a]]).mean(dim=0)
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-30)
        return self._topk(x, exclude, k, restrict)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """"``a`` is to ``b`` as ``c`` is to ?": the top-``k`` answers (never a, b or c) with their cosine scores."""
        ids = self.ids([a, b, c])
        scores, top = self.analogy_ids(ids[:1], ids[1:2], ids[2:], k)
        return [(self.words[i], round(float(s), 6)) for i, s in zip(top[0].tolist(), scores[0].tolist())]
