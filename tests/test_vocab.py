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
    with pytest.raises(ValueError, match="min_count must be at least 1"):
        Vocabulary.build([["a"]], min_count=0)
    vocab = Vocabulary.build([["a", "a"]], min_count=1)
    with pytest.raises(UnknownWordError, match="min_count"):
        vocab.id("zebra")
    with pytest.raises(EmptyInputError, match="none of the words"):
        vocab.encode([["zebra"]])
    with pytest.raises(EmptyInputError, match="none of the words"):
        vocab.encode([])
    with pytest.raises(TypeError, match="tokenize"):
        vocab.encode(["a a"])
