"""Shared fixtures. (Network blocking and quiet progress bars live in the root conftest.py.)"""

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from embedkit import EmbeddingTable
from embedkit.images import fashion_mnist

ROOT = Path(__file__).resolve().parent.parent

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


@pytest.fixture(scope="session")
def same_neighbours():
    """check(scores, ids, ref_scores, ref_ids, tol): each row's scores agree place by place within ``tol`` (one per
    row), and so do its ids but for ties: an id that both sides return gets the same score from both, and an id
    that only one side returns scores within ``tol`` of the other side's k-th score (rounding decided a tie at the
    cut differently; many PQ codes tie exactly, being equal)."""
    def check(scores, ids, ref_scores, ref_ids, tol) -> None:
        assert (ids >= 0).all() and (ref_ids >= 0).all()  # every row filled (no -1 places, whose scores are inf)
        assert (np.abs(scores - ref_scores) <= tol[:, None]).all(), np.abs(scores - ref_scores).max()
        for row, t in enumerate(tol):
            mine, theirs = dict(zip(ids[row], scores[row])), dict(zip(ref_ids[row], ref_scores[row]))
            for i in mine.keys() | theirs.keys():
                if i in mine and i in theirs:
                    a, b = mine[i], theirs[i]
                elif i in mine:  # only ours: it ties with their k-th
                    a, b = mine[i], ref_scores[row, -1]
                else:
                    a, b = theirs[i], scores[row, -1]
                assert abs(a - b) <= t, (row, i, a, b)
    return check


@pytest.fixture(scope="session")
def faiss_ivf_inputs():
    """inputs(index, database, queries, metric) -> (db, q, quantizer, faiss_metric): contiguous float32 arrays
    (unit rows for "cosine", which faiss searches as inner products) and a faiss flat quantiser holding our
    index's trained centroids, to build the faiss IVF index that should agree with ours."""
    import faiss

    def inputs(index, database, queries, metric):
        db, q = np.ascontiguousarray(database.numpy()), np.ascontiguousarray(queries.numpy())
        if metric == "cosine":
            db, q = db / np.linalg.norm(db, axis=1, keepdims=True), q / np.linalg.norm(q, axis=1, keepdims=True)
        dim = db.shape[1]
        quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
        quantizer.add(index.centroids.numpy())
        return db, q, quantizer, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    return inputs


class _PassThrough(torch.nn.Module):
    """A stand-in for a SentenceTransformer: each column's "features" already hold its embeddings."""

    def forward(self, features: dict) -> dict:
        return {"sentence_embedding": features["embedding"]}


@pytest.fixture(scope="session")
def mnrl():
    """loss(columns, scale, **options): sentence-transformers' MultipleNegativesRankingLoss (cosine similarity
    times ``scale``; options such as ``directions``, ``partition_mode``) on ready-made embedding columns, through
    its own forward pass, no model download."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    def loss(columns: list[torch.Tensor], scale: float, **options) -> torch.Tensor:
        reference = MultipleNegativesRankingLoss(_PassThrough(), scale=scale, **options)
        return reference([{"embedding": c} for c in columns], labels=None)
    return loss


@pytest.fixture(scope="session")
def value_and_grads():
    """run(fn, columns) -> (fn's value, the gradient of each column), on fresh leaf copies of the columns."""
    def run(fn, columns: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        leaves = [c.clone().requires_grad_(True) for c in columns]
        value = fn(leaves)
        value.backward()
        return value.detach(), [leaf.grad for leaf in leaves]
    return run


# -- what the book stores beside the code: scripts' modules and the chapters' glued values -----------------
@pytest.fixture(scope="session")
def load_script():
    """load(path): the module of a script that is not a package (``"scripts/mf_optimiser.py"``, relative to the repository)."""
    def load(path: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


@pytest.fixture(scope="session")
def stored_glue():
    """read(chapter): ``{name: text}`` of every value a chapter's stored notebook glued (``"02_word2vec"``)."""
    def read(chapter: str) -> dict[str, str]:
        glued = {}
        for cell in json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())["cells"]:
            for output in cell.get("outputs", []):
                if name := output.get("metadata", {}).get("scrapbook", {}).get("name"):
                    glued[name] = output["data"]["application/papermill.record/text/plain"]
        return glued
    return read
