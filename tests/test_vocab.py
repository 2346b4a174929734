"""The vocabulary: counts, ids, subsampling and noise, by hand."""

import math

import pytest
import torch

from embedkit.errors import EmptyInputError, UnknownWordError
from embedkit.vocab import Vocabulary


def test_vocabulary_by_hand():
    vocab = Vocabulary.build([["b", "a", "b", "c"], ["a", "b", "d"]], min_count=2)
    assert vocab.words == ["b", "a"] and vocab.counts.tolist() == [3, 2] and vocab.total == 5
    assert vocab.id("a") == 1 and "c" not in vocab
    ids, sentence = vocab.encode([["a", "c", "b"], ["d"], ["b"]])
    assert ids.tolist() == [1, 0, 0] and sentence.tolist() == [0, 0, 2]
    ids, sentence = vocab.encode(s for s in [[], ["c", "a"], ["b", "b"]])  # any iterable of word lists
    assert ids.tolist() == [1, 0, 0] and sentence.tolist() == [1, 2, 2]
    assert Vocabulary.build([["x", "y", "y"]], min_count=1).words == ["y", "x"]
    assert Vocabulary.build([["a", "b", "b", "c", "c", "c"]], min_count=1, max_size=2).words == ["c", "b"]


def test_subsampling_and_noise_formulas():
    vocab = Vocabulary(["the", "cat"], torch.tensor([990, 10]))
    keep = vocab.keep_probabilities(sample=1e-2)
    threshold = 1e-2 * 1000
    assert keep[0].item() == pytest.approx((math.sqrt(990 / threshold) + 1) * threshold / 990)
    assert keep[1].item() == 1.0  # rare words are always kept
    assert vocab.keep_probabilities(0).tolist() == [1.0, 1.0]
    noise = vocab.noise_distribution()
    assert noise.sum().item() == pytest.approx(1.0)
    assert noise[1].item() == pytest.approx(10**0.75 / (990**0.75 + 10**0.75))


def test_vocabulary_errors():
    with pytest.raises(EmptyInputError, match="empty"):
        Vocabulary.build([])
    with pytest.raises(EmptyInputError, match="empty"):
        Vocabulary.build([[], []])
    with pytest.raises(EmptyInputError, match="lower min_count"):
        Vocabulary.build([["a", "b"]], min_count=2)
    with pytest.raises(TypeError, match="tokenize"):
        Vocabulary.build(["a sentence as a string"])
    with pytest.raises(ValueError, match="min_count must be a whole number of at least 1"):
        Vocabulary.build([["a"]], min_count=0)
    for bad in (0, -1, 2.5):  # -1 used to drop the rarest word silently, 0 to blame min_count
        with pytest.raises(ValueError, match="max_size must be a whole number of at least 1"):
            Vocabulary.build([["a", "b", "c", "a", "b", "d"]], min_count=1, max_size=bad)
    vocab = Vocabulary.build([["a", "a"]], min_count=1)
    with pytest.raises(UnknownWordError, match="min_count"):
        vocab.id("zebra")
    with pytest.raises(EmptyInputError, match="none of the words"):
        vocab.encode([["zebra"]])
    with pytest.raises(EmptyInputError, match="none of the words"):
        vocab.encode([])
    with pytest.raises(TypeError, match="tokenize"):
        vocab.encode(["a a"])


@pytest.fixture(scope="module")
def wikipedia_slice():
    from embedkit.corpora import wikipedia_sentences

    return wikipedia_sentences(max_articles=100)  # 468 pieces, 414,140 words


@pytest.mark.parametrize("min_count, sample", [(5, 1e-3), (2, 1e-4)])
def test_counts_subsampling_and_noise_agree_with_gensim(wikipedia_slice, min_count, sample):
    """gensim 4.4's Word2Vec.build_vocab on the same sentences, word by word (matched by string).

    gensim stores the keep probability as ``sample_int = uint32(min(p, 1) * (2**32 - 1))`` (truncated, scaled by
    2**32 - 1, not 2**32) and the noise distribution as ``cum_table``, cumulative sums of count**0.75 rounded to
    integers out of 2**31 - 1. Both are compared at that resolution: the keep probabilities exactly after the same
    truncation, the noise probabilities within 1e-9 (one step of cum_table is 4.7e-10)."""
    import numpy as np
    from gensim.models import Word2Vec

    vocab = Vocabulary.build(wikipedia_slice, min_count=min_count)
    reference = Word2Vec(min_count=min_count, sample=sample, workers=1)
    reference.build_vocab(wikipedia_slice)
    wv = reference.wv
    assert sorted(vocab.words) == sorted(wv.index_to_key)
    assert vocab.counts.tolist() == [wv.get_vecattr(w, "count") for w in vocab.words]

    keep = vocab.keep_probabilities(sample).numpy()
    assert 20 < (keep < 1).sum() < len(vocab) // 10  # frequent words are subsampled, the rest kept
    sample_int = np.array([wv.get_vecattr(w, "sample_int") for w in vocab.words], dtype=np.int64)
    assert (sample_int == (keep * (2**32 - 1)).astype(np.uint32)).all()
    assert np.abs(sample_int / (2**32 - 1) - keep).max() < 1 / (2**32 - 1)

    cum = reference.cum_table.astype(np.float64)
    gensim_noise = np.diff(cum, prepend=0.0) / cum[-1]
    order = [wv.key_to_index[w] for w in vocab.words]
    noise = vocab.noise_distribution().numpy()
    assert np.allclose(noise, gensim_noise[order], rtol=0, atol=1e-9)
