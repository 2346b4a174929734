"""Probes: how much of a task an embedding already encodes.

A *probe* is a deliberately simple classifier trained on frozen features. If a
linear model or a k-nearest-neighbour vote can read a label off the vectors,
the embedding encodes it. The book uses probes to compare one-hot codes, raw
pixels, learned embeddings and random-initialised networks on equal terms.

`LinearProbe` is multinomial logistic regression with an L2 penalty, fitted
full-batch by L-BFGS in torch; with ``l2 = 1 / (C * n_samples)`` it minimises the
same objective as scikit-learn's ``LogisticRegression(C=C)`` for three or more
classes (the tests compare the two). With two classes scikit-learn fits one
weight vector, our softmax two, whose difference carries half the penalty:
``l2 = 2 / (C * n_samples)`` matches it there. `knn_predict` is brute-force k-NN with a majority vote;
`nearest_neighbour_agreement` is its leave-one-out 1-NN form on one labelled set.

Left out: mini-batch training for data that does not fit in memory, class
weights, and feature scaling (scale features yourself when their units differ).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .device import get_device
from .errors import EmptyInputError, ShapeError, check_finite, check_positive, check_ids, check_real

Array = torch.Tensor | np.ndarray


def _check_xy(x: Array, y: Array | None, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    check_real("features", x)
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    if x.ndim != 2:
        raise ShapeError(f"features must be a 2-D (n_samples, n_features) array; got shape {tuple(x.shape)}.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise EmptyInputError(f"the feature matrix {tuple(x.shape)} is empty: give at least one sample with at least "
                              "one feature.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("features contain NaN or infinity; clean or impute them first.")
    return x, None if y is None else check_labels(y, x.shape[0], device)


def check_labels(y: Array, n: int, device: torch.device | None = None) -> torch.Tensor:
    """``y`` as 1-D integer (int64) labels, one per row of the ``n`` feature rows, on ``device`` (None: where it
    is); a clear error otherwise."""
    y = torch.as_tensor(y, device=device)
    if y.ndim != 1 or y.shape[0] != n:
        raise ShapeError(f"labels must be 1-D with one label per row of features ({n}); got {tuple(y.shape)}.")
    return check_ids("labels (class ids)", y).long()


class LinearProbe:
    """Multinomial logistic regression with an L2 penalty on the weights (not the bias); ValueError for a
    negative ``l2`` or a ``max_iter`` below 1."""

    def __init__(self, l2: float = 1e-4, max_iter: int = 500, device: str | torch.device | None = None) -> None:
        check_finite("l2", l2, allow_zero=True, why=" (0: no penalty)")
        check_positive("max_iter", max_iter)
        self.l2, self.max_iter, self.device = l2, max_iter, get_device(device)
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.classes: torch.Tensor | None = None

    def fit(self, x: Array, y: Array) -> "LinearProbe":
        """Fit on features ``x`` ``(n, d)`` and integer labels ``y`` ``(n,)``."""
        x, y = _check_xy(x, y, self.device)
        self.classes, target = torch.unique(y, return_inverse=True)
        if len(self.classes) < 2:
            raise ValueError(f"need at least two classes to train a classifier; got only {self.classes.tolist()}.")
        weight = torch.zeros(x.shape[1], len(self.classes), device=self.device, requires_grad=True)
        bias = torch.zeros(len(self.classes), device=self.device, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=self.max_iter, history_size=20,
                                      tolerance_grad=1e-6, tolerance_change=1e-10,
                                      line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = F.cross_entropy(x @ weight + bias, target) + 0.5 * self.l2 * (weight * weight).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def _logits(self, x: Array) -> torch.Tensor:
        if self.weight is None:
            raise RuntimeError("this probe is not fitted yet; call fit(x, y) first.")
        x, _ = _check_xy(x, None, self.device)
        if x.shape[1] != self.weight.shape[0]:
            raise ShapeError(f"the probe was fitted on {self.weight.shape[0]} features; got {x.shape[1]}.")
        return x @ self.weight + self.bias

    def predict_proba(self, x: Array) -> torch.Tensor:
        """Class probabilities ``(n, n_classes)``, columns in the order of ``self.classes``."""
        return self._logits(x).softmax(dim=1)

    def predict(self, x: Array) -> torch.Tensor:
        """Predicted labels."""
        return self.classes[self._logits(x).argmax(dim=1)]

    def score(self, x: Array, y: Array) -> float:
        """Accuracy on ``(x, y)``."""
        _, y = _check_xy(x, y, self.device)
        return float((self.predict(x) == y).float().mean())


KNN_BLOCK = 2**28  # test x train distances held at once by knn_predict (1 GiB of float32)


def knn_predict(train_x: Array, train_y: Array, test_x: Array, k: int = 5, metric: str = "cosine",
                device: str | torch.device | None = None) -> torch.Tensor:
    """Labels of ``test_x`` by majority vote of the ``k`` nearest training points.

    ``metric`` is ``'cosine'`` or ``'euclidean'``. A tie in the vote goes to the
    smallest label, as in scikit-learn's ``KNeighborsClassifier``.
    """
    device = get_device(device)
    train_x, train_y = _check_xy(train_x, train_y, device)
    test_x, _ = _check_xy(test_x, None, device)
    if test_x.shape[1] != train_x.shape[1]:
        raise ShapeError(f"train has {train_x.shape[1]} features, test has {test_x.shape[1]}.")
    k = check_positive("k", k)
    if not 1 <= k <= train_x.shape[0]:
        raise ValueError(f"k must be between 1 and the number of training points ({train_x.shape[0]}); got {k}.")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean'; got {metric!r}.")
    if metric == "cosine":
        train_x, test_x = F.normalize(train_x, dim=1), F.normalize(test_x, dim=1)
    rows = max(1, KNN_BLOCK // train_x.shape[0])  # test rows per distance block (one block for most data)
    nearest = torch.cat([
        (1 - b @ train_x.T if metric == "cosine" else torch.cdist(b, train_x)).topk(k, dim=1, largest=False).indices
        for b in test_x.split(rows)])
    classes, labels = torch.unique(train_y, return_inverse=True)
    votes = F.one_hot(labels[nearest], len(classes)).sum(dim=1)
    return classes[votes.argmax(dim=1)]  # argmax returns the first (smallest) label on ties


def knn_accuracy(train_x: Array, train_y: Array, test_x: Array, test_y: Array, k: int = 5,
                 metric: str = "cosine", device: str | torch.device | None = None) -> float:
    """Accuracy of `knn_predict` on a labelled test set."""
    test_y = check_labels(test_y, len(test_x))  # where it lies: it is compared on the CPU
    predicted = knn_predict(train_x, train_y, test_x, k, metric, device)
    return float((predicted.cpu() == test_y.cpu()).float().mean())


def nearest_neighbour_agreement(x: Array, labels: Array, device: str | torch.device | None = None) -> float:
    """Share of the points whose nearest *other* point (by cosine similarity) has the same label:
    leave-one-out 1-NN accuracy, the book's measure for "similar things lie close" without a training split."""
    device = get_device(device)
    x, labels = _check_xy(x, labels, device)
    if len(x) < 2:
        raise ValueError("need at least 2 points: each point's neighbour is another point.")
    unit = F.normalize(x, dim=1)
    rows, nearest = max(1, KNN_BLOCK // len(x)), []  # rows of the n x n similarities held at once
    for start in range(0, len(x), rows):
        similarity = unit[start:start + rows] @ unit.T
        similarity[:, start:start + rows].fill_diagonal_(-float("inf"))  # a point is not its own neighbour
        nearest.append(similarity.argmax(dim=1))
    return float((labels[torch.cat(nearest)] == labels).float().mean())
