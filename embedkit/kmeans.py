"""k-means clustering in torch (Lloyd 1982) with k-means++ seeding (Arthur and Vassilvitskii 2007).

`kmeans` picks ``k`` starting centroids by k-means++ (each new one drawn with
probability proportional to its squared distance from the nearest centroid so
far), then runs Lloyd iterations: assign every point to its nearest centroid,
move each centroid to the mean of its points. It returns the centroids and the
objective, the sum of squared distances from each point to its nearest centroid.

An empty cluster (no point assigned) is re-seeded with the point farthest from
its own centroid, the one that contributes most to the objective; that point
leaves its old cluster. (faiss splits the largest cluster in two instead.)
``spherical=True`` keeps the centroids at unit length and assigns by largest
inner product (faiss's training for inner-product IVF indexes); ``init=``
replaces k-means++ with given starting centroids.

`assign` gives each point its centroid, in blocks of rows, and `check_vectors`
is the input check that `kmeans` and `embedkit.search` share.

Left out: several restarts (faiss's ``nredo``: call with several seeds and keep
the lowest objective), subsampling of large training sets (faiss trains on at
most 256 points per centroid), mini-batch k-means, and convergence tolerances
(iterations stop early only when no assignment changes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .device import get_device, seeded_generator, widest_float
from .errors import EmptyInputError, ShapeError, check_positive, check_real, check_whole, is_whole

Vectors = torch.Tensor | np.ndarray


class KMeansResult(NamedTuple):
    """The ``(k, dim)`` centroids and the objective (sum of squared distances to the nearest centroid)."""

    centroids: torch.Tensor
    objective: float


def check_vectors(x: Vectors, name: str, device: torch.device, dim: int | None = None) -> torch.Tensor:
    """``x`` as a finite ``(n, dim)`` float tensor on ``device`` (float64 stays float64, anything else is float32)."""
    x = torch.as_tensor(x)
    check_real(name, x)
    x = x.to(device, torch.float64 if x.dtype == torch.float64 else torch.float32)
    if x.ndim != 2:
        hint = " For one vector use v.reshape(1, -1); flatten images with x.reshape(len(x), -1)."
        raise ShapeError(f"{name} must be a 2-D (n, dim) matrix; got shape {tuple(x.shape)}.{hint}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise EmptyInputError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one vector of length >= 1.")
    if dim is not None and x.shape[1] != dim:
        raise ShapeError(f"{name} have {x.shape[1]} dimensions but the database or index has {dim}; "
                         "embed them with the same model (or the same PCA) as the database.")
    if bool(torch.isfinite(x.sum(dim=1)).all()):  # a quick pass: the sum of a row with NaN or inf is not finite
        return x
    finite = torch.isfinite(x).all(dim=1)  # which rows (a row of huge finite numbers can also overflow the sum)
    if not bool(finite.all()):
        rows = torch.nonzero(~finite).flatten()[:5].tolist()
        raise ValueError(f"{name} contain NaN or infinity, e.g. in rows {rows}; remove or fix those vectors first.")
    return x


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def squared_distances(x: torch.Tensor, y: torch.Tensor, y_sq: torch.Tensor | None = None,
                      x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """``(len(x), len(y))`` squared Euclidean distances by ``|x|^2 - 2 x.y + |y|^2``, clamped at 0 (as faiss).

    ``x_sq`` and ``y_sq``, the squared row norms, are computed when not given. Raises `ShapeError` unless both are
    matrices of the same width (shapes only: no wait for a GPU).
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ShapeError(f"x and y must be matrices of vectors of one width, (n, d) and (m, d); got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}. Reshape a single vector with .reshape(1, -1).")
    y_sq = y.pow(2).sum(dim=1) if y_sq is None else y_sq
    x_sq = x.pow(2).sum(dim=1) if x_sq is None else x_sq
    d = torch.addmm(y_sq.unsqueeze(0), x, y.T, alpha=-2.0)
    return d.add_(x_sq.unsqueeze(1)).clamp_min_(0)


def assign(x: torch.Tensor, centroids: torch.Tensor, batch_size: int = 4096, x_sq: torch.Tensor | None = None,
           rule: str = "l2") -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's centroid and its squared distance to it, ``batch_size`` rows at a time: ``(dists, labels)``.

    ``rule="l2"`` picks the nearest centroid; ``"ip"`` the one of largest inner product.
    """
    check_positive("batch_size", batch_size)
    if rule not in ("l2", "ip"):
        raise ValueError(f"rule must be 'l2' (nearest centroid) or 'ip' (largest inner product), got {rule!r}.")
    if x.ndim != 2 or centroids.ndim != 2 or x.shape[1] != centroids.shape[1]:
        raise ShapeError(f"points {tuple(x.shape)} and centroids {tuple(centroids.shape)} must be two matrices "
                         "with the same number of columns (the vectors' dimension).")
    c_sq = centroids.pow(2).sum(dim=1)
    x_sq = x.pow(2).sum(dim=1) if x_sq is None else x_sq
    dists, labels = [], []
    for start in range(0, x.shape[0], batch_size):
        end = start + batch_size
        if rule == "l2":
            best = squared_distances(x[start:end], centroids, c_sq, x_sq[start:end]).min(dim=1)
            dists.append(best.values)
        else:
            best = (x[start:end] @ centroids.T).max(dim=1)
            dists.append((x_sq[start:end] - 2 * best.values + c_sq[best.indices]).clamp_min_(0))
        labels.append(best.indices)
    return torch.cat(dists), torch.cat(labels)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator,
                     x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """``k`` rows of ``x`` chosen by k-means++ seeding."""
    n = x.shape[0]
    if check_positive("k", k) > n:
        raise ValueError(f"k={k} seeds need at least k points, got {n}; lower k or add data.")
    x_sq = x.pow(2).sum(dim=1) if x_sq is None else x_sq
    chosen = [int(torch.randint(n, (1,), generator=generator, device=x.device))]
    closest = squared_distances(x, x[chosen[0]:chosen[0] + 1], x_sq[chosen[:1]], x_sq).squeeze(1)
    for i in range(1, k):
        total = closest.sum()
        if not bool(total > 0):
            raise ValueError(f"the data hold only {i} distinct points, fewer than k={k}; ask for k <= {i}.")
        pick = int(torch.multinomial(closest / total, 1, generator=generator))
        chosen.append(pick)
        closest = torch.minimum(closest, squared_distances(x, x[pick:pick + 1], x_sq[pick:pick + 1], x_sq).squeeze(1))
    return x[chosen].clone()


def kmeans(x: Vectors, k: int, n_iter: int = 25, seed: int = 0, spherical: bool = False,
           init: Vectors | None = None, batch_size: int = 4096,
           device: str | torch.device | None = None) -> KMeansResult:
    """Cluster the rows of ``x`` into ``k`` groups: k-means++ seeding, then up to ``n_iter`` Lloyd iterations.

    ``init``, a ``(k, dim)`` matrix, gives the starting centroids instead of k-means++. The objective is
    that of the returned centroids (the points assigned to them afresh). ``spherical=True`` scales the
    centroids to unit length after every update and assigns each point to the centroid of largest inner
    product, as faiss trains an inner-product IVF index; the objective stays a sum of squared distances.
    """
    dev = get_device(device)
    x = check_vectors(x, "the training vectors", dev)
    n = x.shape[0]
    if not is_whole(k) or not 1 <= k <= n:  # True is not a count
        raise ValueError(f"k={k!r} clusters need an integer 1 <= k <= the number of points ({n}); lower k or add data.")
    n_iter = check_whole("n_iter", n_iter)
    generator = seeded_generator(seed, dev)
    x_sq = x.pow(2).sum(dim=1)
    if init is None:
        centroids = kmeans_plus_plus(x, k, generator, x_sq)
    else:
        centroids = check_vectors(init, "the initial centroids", dev, dim=x.shape[1]).to(x.dtype)
        if centroids.shape[0] != k:
            raise ShapeError(f"init has {centroids.shape[0]} rows but k={k}; give one starting centroid per cluster.")
    rule = "ip" if spherical else "l2"
    if spherical:
        centroids = _unit(centroids)
    previous = None
    for _ in range(n_iter):
        dist, labels = assign(x, centroids, batch_size, x_sq, rule)
        if previous is not None and torch.equal(labels, previous):
            break  # converged: the centroids would not move
        previous = labels
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        empty = torch.nonzero(counts == 0).flatten()
        if len(empty):  # re-seed each empty cluster with one of the points farthest from their centroids
            far = dist.topk(len(empty)).indices
            sums.index_add_(0, labels[far], -x[far])
            counts.index_add_(0, labels[far], -torch.ones(len(far), dtype=x.dtype, device=dev))
            sums[empty], counts[empty] = x[far], 1.0
            previous = None  # the assignment changed
        moved = sums / counts.clamp_min(1).unsqueeze(1)
        centroids = torch.where((counts > 0).unsqueeze(1), moved, centroids)
        if spherical:
            centroids = _unit(centroids)
    dist, _ = assign(x, centroids, batch_size, x_sq, rule)
    return KMeansResult(centroids, float(dist.sum(dtype=widest_float(dist.device))))
