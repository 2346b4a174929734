"""Shared fixtures. (Network blocking and quiet progress bars live in the root conftest.py.)"""

import pytest
import torch

from embedkit import EmbeddingTable

NO_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA GPU here; the CUDA run is skipped")


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=NO_CUDA)])
def device(request) -> str:
    """A test that takes ``device`` runs on the CPU always, and on CUDA when torch sees a GPU (skipped otherwise).

    Its references (scikit-learn, gensim, hand calculations) stay on the CPU: compare with ``.cpu()``.
    """
    return request.param


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
