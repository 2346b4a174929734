"""Shared fixtures. (Network blocking and quiet progress bars live in the root conftest.py.)"""

import numpy as np
import pytest
import torch

from embedkit import EmbeddingTable
from embedkit.images import fashion_mnist

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


# -- search tests: small real slices, and recall against exact ground truth --------------------------------
@pytest.fixture(scope="session")
def glove_data(glove):
    """20,000 GloVe vectors (the most frequent words) as the database, the next 500 as queries."""
    return glove.vectors[:20_000].clone(), glove.vectors[20_000:20_500].clone()


@pytest.fixture(scope="session")
def fashion_data():
    """10,000 Fashion-MNIST training images as 784-d vectors in [0, 1], and 200 other images as queries."""
    x = fashion_mnist("train")[0][:10_200].reshape(-1, 784).float().div_(255)
    return x[:10_000].clone(), x[10_000:].clone()


@pytest.fixture(scope="session")
def recall_at_k():
    """recall(ids, truth): the mean share of each query's true neighbours (rows of ``truth``) found in its row of ``ids``."""
    def recall(ids: np.ndarray, truth: np.ndarray) -> float:
        return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids, truth)]))
    return recall
