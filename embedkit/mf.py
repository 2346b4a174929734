"""Latent matrix factorisation: user and item embeddings whose dot product predicts a rating.

The model of the Netflix Prize era (Koren, Bell and Volinsky 2009):

    r_ui ~ mu + b_u + b_i + p_u . q_i

``mu`` is the global mean, ``b_u`` and ``b_i`` are how generous a user and how
liked an item is, and ``p_u``, ``q_i`` are the user and item embeddings (two
`nn.Embedding` tables). Two ways to fit it, both with L2 regularisation:

- `fit_sgd`: minibatch gradient descent (Adam) on the squared error plus
  ``l2 * (|p_u|^2 + |q_i|^2 + b_u^2 + b_i^2)`` per rating, as Funk's SVD and
  scikit-surprise's ``SVD`` regularise;
- `fit_als`: alternating least squares. With the items fixed, each user's
  ``(p_u, b_u)`` is a ridge regression with a closed form; then the same for
  items. The ridge penalty grows with the number of ratings (``l2 * n_u``, the
  weighted-lambda rule of Zhou et al. 2008). All users (or items) of a chunk are
  solved at once with one batched ``torch.linalg.solve``.

`sklearn_ridge_biases` is the reference for ALS: with no factors, the loss is a ridge
regression whose minimum scikit-learn's ``Ridge`` finds independently.

Left out: implicit feedback (weighted ALS on clicks), time effects (timeSVD++),
and side features for cold-start users and items.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .device import get_device, seeded_generator
from .errors import ShapeError, check_finite, check_positive, is_whole
from .progress import progress
from .ratings import Ratings
from .recsys import check_index_pairs, check_model_sizes, check_same_ids, rmse
from .train import History, check_lr, finite_parameters


class BiasedMF(nn.Module):
    """mu + b_u + b_i + p_u . q_i, with embeddings initialised from N(0, init_std^2); ``factors=0`` is biases only."""

    def __init__(self, n_users: int, n_items: int, factors: int = 32, init_std: float = 0.1, seed: int = 0,
                 scale: tuple[float, float] = (1.0, 5.0)) -> None:
        super().__init__()
        n_users, n_items = check_positive("n_users", n_users), check_positive("n_items", n_items)
        if not (is_whole(factors) and factors >= 0):
            raise ValueError(f"factors must be a whole number of at least 0 (0: biases only); got {factors!r}.")
        check_finite("init_std", init_std, allow_zero=True)
        low, high = scale
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"scale must be (lowest, highest) rating with lowest < highest, got {scale!r}.")
        generator = seeded_generator(seed)
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        with torch.no_grad():
            for table in (self.user, self.item):
                table.weight.copy_(torch.randn(table.weight.shape, generator=generator) * init_std)
            self.user_bias.weight.zero_()
            self.item_bias.weight.zero_()
        self.register_buffer("mu", torch.zeros(()))
        self.scale = scale

    def _check(self, users: torch.Tensor, items: torch.Tensor) -> None:
        check_index_pairs(users, items, self.user.num_embeddings, self.item.num_embeddings, "BiasedMF")

    def forward(self, users: torch.Tensor, items: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Predicted ratings (not clipped) for index pairs. ``check=False`` skips the range check of the ids,
        which makes a GPU wait (the training loop checks its data once, up front)."""
        if check:
            self._check(users, items)
        return (self.mu + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)
                + (self.user(users) * self.item(items)).sum(-1))

    @torch.no_grad()
    def predict(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Predicted ratings clipped to the rating scale, for index tensors (or numpy arrays, lists) of ids;
        TypeError for ids that are not integers."""
        device = self.mu.device
        return self(torch.as_tensor(users).to(device), torch.as_tensor(items).to(device)).clamp(*self.scale)

    @torch.no_grad()
    def scores(self) -> torch.Tensor:
        """The full ``users x items`` matrix of predicted ratings (for ranking)."""
        return (self.mu + self.user_bias.weight + self.item_bias.weight.T + self.user.weight @ self.item.weight.T)


def _check_fit(train: Ratings, test: Ratings | None, l2: float, als: bool = False) -> None:
    """What the fits share: a finite penalty (positive for ALS) and a test split of the same `Ratings`."""
    if als:
        check_finite("l2", l2, why=": ALS needs it to make each ridge system solvable")
    else:
        check_finite("l2", l2, allow_zero=True, why=" (0: no penalty)")
    if test is not None:
        check_same_ids(train, test)


def _device_data(ratings: Ratings, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return ratings.users.to(device), ratings.items.to(device), ratings.values.to(device)


def fit_sgd(model: BiasedMF, train: Ratings, epochs: int = 10, lr: float = 0.01, l2: float = 0.1,
            batch_size: int = 2048, seed: int = 0, test: Ratings | None = None,
            device: str | torch.device | None = None) -> History:
    """Fit by minibatch Adam; returns a `History` of train RMSE (and test RMSE when ``test`` is given).

    ``test`` is only scored after each epoch, for the curves; nothing is chosen on it. Choose settings on a
    validation split instead (e.g. one made by ``random_split`` from the training ratings). ValueError for an
    ``lr`` that is not positive and finite, a negative or non-finite ``l2``, or a ``test`` that is not a split
    of the same `Ratings` (`recsys.check_same_ids`).
    """
    check_positive("epochs", epochs), check_positive("batch_size", batch_size)
    check_lr(lr), _check_fit(train, test, l2)
    device = get_device(device)
    model.to(device)
    model.mu.fill_(float(train.values.mean()))
    users, items, values = _device_data(train, device)
    model._check(users, items)  # once here, not per minibatch
    check_model_sizes(model, train)  # a larger model: rows no rating trains
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = seeded_generator(seed)
    history = History()
    for epoch in progress(range(epochs), total=epochs, desc="SGD epochs"):
        order = torch.randperm(len(values), generator=generator).to(device)
        for start in range(0, len(values), batch_size):
            pick = order[start:start + batch_size]
            u, i, r = users[pick], items[pick], values[pick]
            error = model(u, i, check=False) - r
            penalty = (model.user(u).pow(2).sum(-1) + model.item(i).pow(2).sum(-1)
                       + model.user_bias(u).squeeze(-1).pow(2) + model.item_bias(i).squeeze(-1).pow(2))
            loss = (error.pow(2) + l2 * penalty).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        history.append(_epoch_row(model, epoch, train, test))
    return history.finish(device)


def _epoch_row(model: BiasedMF, epoch: int, train: Ratings, test: Ratings | None) -> dict[str, float]:
    predicted = model.predict(train.users, train.items).cpu()
    if not (bool(torch.isfinite(predicted).all()) and finite_parameters(model)):
        raise FloatingPointError(f"the fit diverged in epoch {epoch + 1} (NaN or infinity in the model); "
                                 "lower lr (Adam) or raise l2.")
    row = {"epoch": epoch + 1, "train rmse": rmse(predicted, train.values)}
    if test is not None:
        row["test rmse"] = rmse(model.predict(test.users, test.items).cpu(), test.values)
    return row


def _check_ridge_shapes(mask: torch.Tensor, target: torch.Tensor, fixed: torch.Tensor) -> None:
    """`ridge_rows`'s operands: a ShapeError unless mask and target are (rows, cols) and fixed (cols, k)."""
    if mask.ndim != 2 or target.shape != mask.shape or fixed.ndim != 2 or fixed.shape[0] != mask.shape[1]:
        raise ShapeError(f"mask and target must be (rows, cols) and fixed (cols, k); got {tuple(mask.shape)}, "
                         f"{tuple(target.shape)} and {tuple(fixed.shape)}.")


def ridge_rows(mask: torch.Tensor, target: torch.Tensor, fixed: torch.Tensor, l2: float,
               chunk: int = 128, damping: float = 0.0) -> torch.Tensor:
    """One half of an ALS sweep: for each row r, the ridge solution
    ``argmin_x sum_j mask[r, j] (target[r, j] - fixed[j] . x)^2 +
    l2 (n_r + damping) ||x||^2``, where n_r is the number of observed entries of row r
    (at least 1). Rows are solved ``chunk`` at a time, each from its normal equations
    ``(F^T M_r F + l2 (n_r + damping) I) x = F^T M_r t_r``."""
    check_positive("chunk", chunk)
    check_finite("l2", l2, why=": each ridge system needs it to be solvable")
    check_finite("damping", damping, allow_zero=True)
    _check_ridge_shapes(mask, target, fixed)
    out = torch.empty(mask.shape[0], fixed.shape[1], device=mask.device)
    eye = torch.eye(fixed.shape[1], device=mask.device)
    for start in range(0, mask.shape[0], chunk):
        m, t = mask[start:start + chunk], target[start:start + chunk]
        weighted = m[:, :, None] * fixed[None]  # (c, cols, k)
        a = weighted.transpose(1, 2) @ fixed  # (c, k, k) = sum_j m_rj f_j f_j^T
        a = a + l2 * (m.sum(dim=1) + damping).clamp_min(1)[:, None, None] * eye
        out[start:start + chunk] = torch.linalg.solve(a, (t * m) @ fixed)
    return out


@torch.no_grad()
def fit_als(model: BiasedMF, train: Ratings, epochs: int = 10, l2: float = 0.15, test: Ratings | None = None,
            device: str | torch.device | None = None, damping: float = 0.0) -> History:
    """Fit by alternating least squares on the (dense, masked) rating matrix; returns a `History` of RMSEs.

    ``test`` is only scored after each epoch, for the curves; nothing is chosen on it. Choose settings on a
    validation split instead (e.g. one made by ``random_split`` from the training ratings). ShapeError for a
    model of another size than ``train``; ValueError for an ``l2`` that is not positive and finite, or a
    ``test`` that is not a split of the same `Ratings`.
    """
    check_positive("epochs", epochs)
    check_model_sizes(model, train), _check_fit(train, test, l2, als=True)
    model._check(train.users, train.items)  # as fit_sgd: once, before any work
    device = get_device(device)
    model.to(device)
    mu = float(train.values.mean())
    model.mu.fill_(mu)
    ratings = train.matrix().to(device)
    mask = torch.zeros_like(ratings)
    mask[train.users.to(device), train.items.to(device)] = 1.0
    history = History()
    for epoch in progress(range(epochs), total=epochs, desc="ALS epochs"):
        # users: solve for [p_u, b_u] against fixed [q_i, 1]; target r - mu - b_i
        items = torch.cat([model.item.weight, torch.ones(ratings.shape[1], 1, device=device)], dim=1)
        solved = ridge_rows(mask, ratings - mu - model.item_bias.weight.T, items, l2, damping=damping)
        model.user.weight.copy_(solved[:, :-1])
        model.user_bias.weight.copy_(solved[:, -1:])
        # items: solve for [q_i, b_i] against fixed [p_u, 1]; target r - mu - b_u
        users = torch.cat([model.user.weight, torch.ones(ratings.shape[0], 1, device=device)], dim=1)
        solved = ridge_rows(mask.T, (ratings - mu - model.user_bias.weight).T, users, l2, damping=damping)
        model.item.weight.copy_(solved[:, :-1])
        model.item_bias.weight.copy_(solved[:, -1:])
        history.append(_epoch_row(model, epoch, train, test))
    return history.finish(device)


def recommend(model: BiasedMF, train: Ratings, raw_user, k: int = 10) -> list[tuple[object, float]]:
    """Top-``k`` raw item IDs with predicted ratings for a raw user ID, excluding items they already rated.
    ShapeError for a model of another size than ``train``."""
    check_positive("k", k), check_model_sizes(model, train)
    u = train.user(raw_user)
    with torch.no_grad():  # this user's row of `BiasedMF.scores`, not the whole users x items matrix
        scores = (model.mu + model.user_bias.weight[u] + model.item_bias.weight[:, 0]
                  + model.item.weight @ model.user.weight[u]).cpu()
    scores[train.items[train.users == u]] = -torch.inf
    top = scores.topk(min(k, int(torch.isfinite(scores).sum())))
    return [(train.item_ids[i], float(s)) for i, s in zip(top.indices.tolist(), top.values.clamp(*model.scale).tolist())]


def sklearn_ridge_biases(train: Ratings, l2: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference `fit_als` is checked against: the minimum of the loss with no factors (biases only, a
    convex ridge regression), from scikit-learn's ``Ridge`` on the one-hot design of (user, item) pairs.

    ``Ridge`` penalises every coefficient alike; scaling user u's column by 1/sqrt(l2 n_u) (item i's by
    1/sqrt(l2 n_i)) turns its penalty into the loss's l2 n_u b_u^2 + l2 n_i b_i^2 (the per-rating penalty).
    Returns (user biases, item biases) as float64 tensors; 0 for users and items without ratings, as `fit_als`
    gives them. ValueError for an ``l2`` that is not positive and finite.
    """
    check_finite("l2", l2, why=": ALS needs it to make each ridge system solvable")
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import Ridge

    users, items, n = train.users.numpy(), train.items.numpy(), len(train)
    counts = np.concatenate([np.bincount(users, minlength=train.n_users),
                             np.bincount(items, minlength=train.n_items)]).clip(min=1)
    scale = 1 / np.sqrt(l2 * counts)
    columns = np.concatenate([users, train.n_users + items])
    design = sparse.csr_matrix((scale[columns], (np.tile(np.arange(n), 2), columns)),
                               shape=(n, train.n_users + train.n_items))
    target = train.values.numpy() - float(train.values.mean())  # mu, as fit_als sets it
    ridge = Ridge(alpha=1.0, fit_intercept=False, solver="sparse_cg", tol=1e-12, max_iter=10_000).fit(design, target)
    biases = torch.from_numpy(ridge.coef_ * scale)
    return biases[:train.n_users], biases[train.n_users:]
