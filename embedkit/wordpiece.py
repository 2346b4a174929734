"""BERT's WordPiece tokenizer (Devlin et al. 2019; Wu et al. 2016), written from a ``vocab.txt``.

Text becomes token ids in four steps, the same as Hugging Face's fast
``BertTokenizer`` (``tokenizers``), which the tests compare against id for id:

1. normalise: drop control characters and turn whitespace into spaces, put
   spaces around CJK ideographs, strip accents (NFD, then drop combining marks)
   and lower-case;
2. pre-tokenise: split on whitespace, and make every punctuation character
   (Unicode P*, and ASCII symbols such as ``$`` and ``+``) its own piece;
3. WordPiece: cut each piece greedily into the longest vocabulary entries,
   left to right, continuation pieces prefixed ``##``; a piece that cannot be
   cut, or is longer than 100 characters, becomes ``[UNK]``;
4. frame: ``[CLS] ... [SEP]``, truncated to ``max_length``, padded to the
   longest sequence of the batch with an attention mask.

Left out: sentence pairs (token type 1), a ``never_split`` list, and
tokenizers without lower-casing.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .errors import DataIntegrityError, DataNotFoundError, EmptyInputError, check_positive, check_ids

# Unicode White_Space (what Rust's char::is_whitespace tests), which differs from str.isspace()
_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B))
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))  # as the Rust `tokenizers` (Python's has 0x2B820)


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_cjk(c: str) -> bool:
    code = ord(c)
    return any(low <= code <= high for low, high in _CJK)


def _is_punctuation(c: str) -> bool:
    return (c.isascii() and not c.isalnum() and c.isprintable() and c != " ") or unicodedata.category(c).startswith("P")


def normalize(text: str) -> str:
    """Step 1: clean, space out CJK characters, strip accents, lower-case."""
    out = []
    for c in text:
        if c in ("\x00", "\ufffd") or _is_control(c):
            continue
        if c in _WHITESPACE:
            out.append(" ")
        elif _is_cjk(c):
            out.append(f" {c} ")
        else:
            out.append(c)
    text = unicodedata.normalize("NFD", "".join(out))
    # lower-case character by character, as the reference does (str.lower() would turn a final Σ into ς)
    return "".join(c.lower() for c in text if unicodedata.category(c) != "Mn")


def pre_tokenize(text: str) -> list[str]:
    """Step 2: whitespace-separated words, with each punctuation character split off on its own."""
    pieces: list[str] = []
    for word in text.split(" "):
        current = ""
        for c in word:
            if _is_punctuation(c):
                if current:
                    pieces.append(current)
                pieces.append(c)
                current = ""
            elif c in _WHITESPACE:
                if current:
                    pieces.append(current)
                current = ""
            else:
                current += c
        if current:
            pieces.append(current)
    return pieces


@dataclass
class Batch:
    """Token ids and attention mask, both ``(batch, length)`` int64, padded to the longest sequence."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class WordPieceTokenizer:
    """Load with `from_vocab` (one token per line, the line number is the id); call `encode` or `batch`."""

    def __init__(self, vocab: Sequence[str], max_length: int = 512, unk: str = "[UNK]", cls: str = "[CLS]",
                 sep: str = "[SEP]", pad: str = "[PAD]", max_chars_per_word: int = 100) -> None:
        self.vocab = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in (unk, cls, sep, pad) if t not in self.vocab]
        if missing:
            raise DataIntegrityError(f"the vocabulary lacks the special tokens {missing}; is it a BERT vocab.txt?")
        if check_positive("max_length", max_length) < 3:
            raise ValueError(f"max_length must leave room for [CLS] and [SEP] and one token; got {max_length}.")
        self.tokens = list(vocab)
        self.max_length, self.max_chars_per_word = max_length, max_chars_per_word
        self.unk_id, self.cls_id, self.sep_id, self.pad_id = (self.vocab[t] for t in (unk, cls, sep, pad))
        self._cache: dict[str, list[int]] = {}  # word -> pieces; words repeat a lot in real text

    @classmethod
    def from_vocab(cls, path: str | os.PathLike, max_length: int = 512) -> "WordPieceTokenizer":
        """Read a BERT ``vocab.txt``."""
        path = Path(path)
        if not path.is_file():
            raise DataNotFoundError(f"vocabulary file {path} does not exist.")
        try:
            with path.open(encoding="utf-8", newline="") as file:  # lines end at "\n" only, as in the reference
                tokens = [t.removesuffix("\r") for t in file.read().split("\n")]  # a CRLF line loses its "\r"
        except UnicodeDecodeError as error:
            raise DataIntegrityError(f"{path} is not UTF-8 text (byte {error.start}: {error.reason}); "
                                     "save it as UTF-8, or download the model's vocab.txt again.") from None
        if tokens and tokens[-1] == "":
            tokens.pop()
        if len(set(tokens)) != len(tokens):
            raise DataIntegrityError(f"{path} lists some tokens twice; it is not a valid vocab.txt.")
        return cls(tokens, max_length=max_length)

    def word_pieces(self, word: str) -> list[int]:
        """Step 3 for one pre-tokenised word: greedy longest-match-first, or ``[UNK]``
        for the whole word."""
        if len(word) > self.max_chars_per_word:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            if end == start:
                return [self.unk_id]
            start = end
        return ids

    def tokenize(self, text: str) -> list[str]:
        """The word pieces of ``text`` as strings, without ``[CLS]``/``[SEP]``."""
        return [self.tokens[i] for i in self._ids(text)]

    def _ids(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"expected a string, got {type(text).__name__}: {text!r:.60}")
        ids = []
        for word in pre_tokenize(normalize(text)):
            if word not in self._cache:
                if len(self._cache) > 100_000:
                    self._cache.clear()
                self._cache[word] = self.word_pieces(word)
            ids.extend(self._cache[word])
        return ids

    def encode(self, text: str) -> list[int]:
        """``[CLS] pieces [SEP]`` as ids, truncated to ``max_length`` ids in all (the end of a long text is cut)."""
        return [self.cls_id, *self._ids(text)[: self.max_length - 2], self.sep_id]

    def batch(self, texts: Sequence[str]) -> Batch:
        """Encode several texts and pad them to the longest; an empty list is an error."""
        if isinstance(texts, str):
            raise TypeError("batch() takes a list of strings; wrap a single text as [text].")
        if len(texts) == 0:
            raise EmptyInputError("no texts to encode.")
        return self.pad([self.encode(t) for t in texts])

    def pad(self, encoded: Sequence[Sequence[int]]) -> Batch:
        """Id lists (from `encode`) padded with ``[PAD]`` to the longest, with the attention mask."""
        if len(encoded) == 0:
            raise EmptyInputError("pad got no id lists; encode at least one text first.")
        length = max(map(len, encoded))
        ids = torch.full((len(encoded), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), length), dtype=torch.long)
        for row, e in enumerate(encoded):
            row_ids = torch.tensor(e)
            if row_ids.numel():  # (an empty list makes a float tensor)
                row_ids = check_ids(f"token ids (id list {row})", row_ids, hint="Give the lists that encode() returns.")
            ids[row, : len(e)] = row_ids
            mask[row, : len(e)] = 1
        check_ids("token ids", ids, len(self.tokens), "Give the lists that encode() returns.", ValueError)
        return Batch(ids, mask)
