import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from embedkit.errors import EmptyInputError, ShapeError
from embedkit.probe import LinearProbe, knn_accuracy, knn_predict


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    return x[:1200], y[:1200], x[1200:], y[1200:]


def test_linear_probe_matches_scikit_learn(digits):
    train_x, train_y, test_x, test_y = digits
    c = 1.0
    reference = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(train_x, train_y)
    probe = LinearProbe(l2=1 / (c * len(train_x)), device="cpu").fit(train_x, train_y)
    ours = probe.predict_proba(test_x).numpy()
    assert np.abs(ours - reference.predict_proba(test_x)).max() < 5e-3
    assert (probe.predict(test_x).numpy() == reference.predict(test_x)).mean() > 0.995
    assert probe.score(test_x, test_y) == pytest.approx(reference.score(test_x, test_y), abs=0.005)


def test_linear_probe_matches_scikit_learn_on_two_classes_with_twice_the_penalty(digits):
    """With two classes scikit-learn fits one weight vector; our two softmax columns share its penalty, so
    l2 = 2 / (C n) gives scikit-learn's fit (1 / (C n) gives its fit at 2C)."""
    train_x, train_y, test_x, _ = digits
    keep, c = train_y < 2, 0.01
    x, y = train_x[keep], train_y[keep]
    reference = LogisticRegression(C=c, max_iter=5000, tol=1e-10).fit(x, y)
    ours = LinearProbe(l2=2 / (c * len(x)), device="cpu").fit(x, y).predict_proba(test_x).numpy()
    assert np.abs(ours - reference.predict_proba(test_x)).max() < 5e-3
    halved = LinearProbe(l2=1 / (c * len(x)), device="cpu").fit(x, y).predict_proba(test_x).numpy()
    assert np.abs(halved - reference.predict_proba(test_x)).max() > 0.02


def test_linear_probe_tiny_separable_example():
    x = torch.tensor([[-2.0], [-1.0], [1.0], [2.0]])
    y = torch.tensor([3, 3, 7, 7])  # labels need not be 0..n-1
    probe = LinearProbe(l2=1e-3, device="cpu").fit(x, y)
    assert probe.classes.tolist() == [3, 7]
    assert probe.predict(torch.tensor([[-5.0], [0.5]])).tolist() == [3, 7]
    assert probe.predict_proba(torch.tensor([[0.0]]))[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-4)


def test_knn_matches_scikit_learn(digits):
    train_x, train_y, test_x, test_y = digits
    for metric in ("cosine", "euclidean"):
        reference = KNeighborsClassifier(n_neighbors=5, metric=metric, algorithm="brute").fit(train_x, train_y)
        ours = knn_predict(train_x, train_y, test_x, k=5, metric=metric, device="cpu")
        assert (ours.numpy() == reference.predict(test_x)).mean() > 0.995
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=1, device="cpu") > 0.9


def test_knn_tie_goes_to_smallest_label():
    train_x = torch.tensor([[0.0, 1.0], [0.0, -1.0]])
    assert knn_predict(train_x, torch.tensor([5, 2]), torch.tensor([[1.0, 0.0]]), k=2, device="cpu").tolist() == [2]


def test_probe_errors():
    x, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearProbe().predict(x)
    with pytest.raises(ShapeError, match="2-D"):
        LinearProbe().fit(np.ones(4), y)
    with pytest.raises(EmptyInputError):
        LinearProbe().fit(np.ones((0, 2)), np.array([], dtype=int))
    with pytest.raises(ShapeError, match="one label per row"):
        LinearProbe().fit(x, y[:3])
    with pytest.raises(TypeError, match="integers"):
        LinearProbe().fit(x, y.astype(float))
    with pytest.raises(ValueError, match="two classes"):
        LinearProbe().fit(x, np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="NaN"):
        LinearProbe().fit(np.full((4, 2), np.nan), y)
    with pytest.raises(ValueError, match="non-negative"):
        LinearProbe(l2=-1)
    for max_iter in (0, -5, 2.5):  # 0 left the weights at zero: a constant prediction, silently
        with pytest.raises(ValueError, match="max_iter must be a whole number of at least 1"):
            LinearProbe(max_iter=max_iter)
    assert LinearProbe(max_iter=1, device="cpu").fit(x, y).weight is not None
    probe = LinearProbe(device="cpu").fit(np.eye(4)[:, :2] + np.array([0, 0.1]), y)
    with pytest.raises(ShapeError, match="fitted on 2 features"):
        probe.predict(np.ones((1, 3)))
    with pytest.raises(ValueError, match="metric"):
        knn_predict(x, y, x, k=1, metric="manhattan")
    with pytest.raises(ValueError, match="k must be between"):
        knn_predict(x, y, x, k=5)
    with pytest.raises(ShapeError, match="features"):
        knn_predict(x, y, np.ones((1, 3)))


def test_nearest_neighbour_agreement_by_hand_and_against_scikit_learn(digits):
    from sklearn.neighbors import NearestNeighbors

    from embedkit.probe import nearest_neighbour_agreement

    # (1, 0) and (2, 0.1) point the same way, (0, 1) elsewhere: the first two find each other
    x = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    assert nearest_neighbour_agreement(x, torch.tensor([0, 0, 1]), device="cpu") == pytest.approx(2 / 3)
    # (0, 1) is nearer to (2, 0.1) (cosine 0.05) than to (1, 0) (cosine 0): only it agrees here
    assert nearest_neighbour_agreement(x, torch.tensor([0, 1, 1]), device="cpu") == pytest.approx(1 / 3)
    features, labels = digits[0], digits[1]
    neighbours = NearestNeighbors(n_neighbors=2, metric="cosine").fit(features).kneighbors(features)[1]
    expected = float(np.mean(labels[neighbours[:, 1]] == labels))
    assert nearest_neighbour_agreement(features, labels, device="cpu") == pytest.approx(expected, abs=2e-3)
    with pytest.raises(ValueError, match="at least 2"):
        nearest_neighbour_agreement(x[:1], torch.tensor([0]), device="cpu")


def test_knn_checks_test_labels_and_k():
    x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]]), torch.tensor([0, 1, 0, 1])
    assert knn_accuracy(x, y, x, y.numpy(), k=1, device="cpu") == 1.0
    for bad in (y[:, None], y[:1], y[:3]):
        with pytest.raises(ShapeError, match=r"one label per row of features \(4\)"):
            knn_accuracy(x, y, x, bad, k=1, device="cpu")
    with pytest.raises(TypeError, match=r"labels \(class ids\) must be integers.*long"):
        knn_accuracy(x, y, x, y.float() + 0.5, k=1, device="cpu")
    with pytest.raises(TypeError, match=r"labels \(class ids\) must be integers"):
        knn_accuracy(x, y.float(), x, y, k=1, device="cpu")  # training labels too
    with pytest.raises(ShapeError, match="one label per row"):
        knn_predict(x, y[:, None], x, k=1, device="cpu")
    for k in (2.0, 2.5, True):
        with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
            knn_predict(x, y, x, k=k, device="cpu")
    assert knn_predict(x, y, x, k=np.int64(1), device="cpu").tolist() == y.tolist()


def test_knn_in_blocks_of_test_rows_equals_one_block(monkeypatch):
    """knn_predict holds at most KNN_BLOCK distances at once; blocks of a few test rows give the same labels."""
    from embedkit import probe

    g = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(60, 5, generator=g), torch.randn(23, 5, generator=g)
    train_y = torch.randint(0, 3, (60,), generator=g)
    whole = {m: probe.knn_predict(train_x, train_y, test_x, k=5, metric=m, device="cpu") for m in ("cosine", "euclidean")}
    monkeypatch.setattr(probe, "KNN_BLOCK", 4 * 60)  # 4 test rows per block: 6 blocks, the last of 3
    for metric, labels in whole.items():
        assert torch.equal(probe.knn_predict(train_x, train_y, test_x, k=5, metric=metric, device="cpu"), labels)
    x = torch.randn(23, 5, generator=g)
    labels = torch.randint(0, 3, (23,), generator=g)
    whole = probe.nearest_neighbour_agreement(x, labels, device="cpu")
    monkeypatch.setattr(probe, "KNN_BLOCK", 5 * 23)  # the same n x n similarities, 5 rows at a time
    assert probe.nearest_neighbour_agreement(x, labels, device="cpu") == whole > 0
