"""Shared fixtures. (Network blocking and quiet progress bars live in the root conftest.py.)"""

import pytest

from embedkit import EmbeddingTable


@pytest.fixture(scope="session")
def glove() -> EmbeddingTable:
    """The pretrained GloVe 6B 50-d table on the CPU (loaded once per test session)."""
    return EmbeddingTable.glove_6b_50d(device="cpu")


@pytest.fixture
def tiny() -> EmbeddingTable:
    """A hand-checkable 2-D table: royalty on one axis, gender on the other."""
    words = ["man", "woman", "king", "queen", "apple"]
    vectors = [[1.0, 0.0], [0.0, 1.0], [3.0, 0.2], [0.2, 3.0], [-1.0, -1.0]]
    return EmbeddingTable(words, vectors, device="cpu")
