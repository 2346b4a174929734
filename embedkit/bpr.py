"""Bayesian personalised ranking (BPR, Rendle et al. 2009): embeddings learned from *which* items a user chose.

Implicit feedback knows only that user ``u`` interacted with item ``i`` (rated,
watched, bought); every other item is unobserved, not disliked. BPR turns this
into pairs: an item ``i`` the user interacted with should score higher than an
item ``j`` they did not. With scores::

    x_ui = b_i + p_u . q_i     (a user bias would cancel in the difference)

and ``x_uij = x_ui - x_uj``, it maximises, over sampled triples ``(u, i, j)``::

    ln sigma(x_uij) - (l2 / 2) (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2)

by stochastic gradient ascent, with the update of the paper's LearnBPR:
``theta += lr * (sigma(-x_uij) * d x_uij / d theta - l2 * theta)`` for the
parameters the triple touches.

How triples are drawn here: each epoch pairs every training pair ``(u, i)``
once with an item ``j`` drawn uniformly from the items ``u`` has not
interacted with, shuffles the triples and applies the updates in minibatches
(the updates of one minibatch are computed from the same parameters and
summed, as in Hogwild-style parallel SGD).

`cornac_dataset` and `cornac_scores` carry the same pairs to cornac's BPR, the
reference the tests and chapter 6 compare with, and its scores back.

Left out: the paper's bootstrap sampling with replacement (we make one pass
over the shuffled pairs per epoch), separate regularisation constants for
users, positive and negative items, adaptive or popularity-based negative
sampling, BPR for k-nearest-neighbour models, learning-rate schedules and
early stopping.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .device import get_device, seeded_generator
from .errors import ShapeError, check_finite, check_positive, check_ids
from .progress import progress
from .ratings import Ratings
from .recsys import check_index_pairs, check_model_sizes, check_same_ids, ranking_metrics
from .train import History, check_lr, finite_parameters


class BPR(nn.Module):
    """Scores ``x_ui = b_i + p_u . q_i`` for ranking items; embeddings initialised from N(0, init_std^2)."""

    def __init__(self, n_users: int, n_items: int, factors: int = 32, init_std: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        n_users, n_items = check_positive("n_users", n_users), check_positive("n_items", n_items)
        factors = check_positive("factors", factors)
        check_finite("init_std", init_std, allow_zero=True)
        generator = seeded_generator(seed)
        self.user = nn.Embedding(n_users, factors)
        self.item = nn.Embedding(n_items, factors)
        self.item_bias = nn.Embedding(n_items, 1)
        with torch.no_grad():
            for table in (self.user, self.item):
                table.weight.copy_(torch.randn(table.weight.shape, generator=generator) * init_std)
            self.item_bias.weight.zero_()

    def _check(self, users: torch.Tensor, items: torch.Tensor) -> None:
        check_index_pairs(users, items, self.user.num_embeddings, self.item.num_embeddings, "BPR")

    def forward(self, users: torch.Tensor, items: torch.Tensor, check: bool = True) -> torch.Tensor:
        """Scores ``x_ui`` for index pairs (higher: ranked earlier). ``check=False`` skips the range check of
        the ids, which makes a GPU wait."""
        if check:
            self._check(users, items)
        return self.item_bias(items).squeeze(-1) + (self.user(users) * self.item(items)).sum(-1)

    @torch.no_grad()
    def scores(self) -> torch.Tensor:
        """The full ``users x items`` score matrix (for ranking)."""
        return self.item_bias.weight.T + self.user.weight @ self.item.weight.T


def sample_negatives(interacted: torch.Tensor, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each entry of ``users``, an item drawn uniformly from those the user has not interacted with.

    ``interacted`` is a boolean ``users x items`` matrix; draws that hit an interacted item are redrawn.
    """
    if not isinstance(interacted, torch.Tensor) or interacted.dtype != torch.bool or interacted.ndim != 2:
        got = f"{interacted.dtype} {tuple(interacted.shape)}" if isinstance(interacted, torch.Tensor) else type(interacted)
        raise TypeError(f"interacted must be a bool users x items tensor (an integer one would index, not mask); "
                        f"got {got}. Convert a 0/1 matrix with .bool().")
    n_users, n_items = interacted.shape
    users = check_ids("user ids", users, n_users, "(the rows of interacted)")
    if bool(interacted.all(dim=1)[users].any()):
        raise ValueError("a user has interacted with every item: there is no negative item to sample.")
    negatives = torch.randint(n_items, users.shape, generator=generator).to(users.device)
    bad = interacted[users, negatives]
    while bool(bad.any()):
        negatives[bad] = torch.randint(n_items, (int(bad.sum()),), generator=generator).to(users.device)
        bad = interacted[users, negatives]
    return negatives


@torch.no_grad()
def bpr_step(model: BPR, users: torch.Tensor, positives: torch.Tensor,
             negatives: torch.Tensor, lr: float, l2: float,
             check: bool = True) -> float:
    """One LearnBPR update for a minibatch of triples ``(u, i, j)``; returns their mean
    ``-ln sigma(x_uij)``.

    With ``g = sigma(-x_uij)``: ``p_u += lr (g (q_i - q_j) - l2 p_u)``,
    ``q_i += lr (g p_u - l2 q_i)``, ``q_j += lr (-g p_u - l2 q_j)``,
    ``b_i += lr (g - l2 b_i)``, ``b_j += lr (-g - l2 b_j)``; all computed from the
    parameters before the step and summed where a row occurs more than once.
    ``check=False`` skips the ids' range check, a GPU wait (`fit_bpr` checks once).
    """
    if not users.shape == positives.shape == negatives.shape or users.ndim != 1:
        raise ShapeError("users, positives and negatives must be 1-D and of equal "
                         f"length; got {tuple(users.shape)}, {tuple(positives.shape)}, "
                         f"{tuple(negatives.shape)}.")
    if check:
        model._check(users, positives), model._check(users, negatives)
        check_lr(lr), check_finite("l2", l2, allow_zero=True, why=" (0: no penalty)")
    p, q, b = model.user.weight, model.item.weight, model.item_bias.weight[:, 0]
    pu, qi, qj, bi, bj = (p[users], q[positives], q[negatives],
                          b[positives], b[negatives])
    x = bi - bj + (pu * (qi - qj)).sum(-1)
    g = torch.sigmoid(-x)
    p.index_add_(0, users, lr * (g[:, None] * (qi - qj) - l2 * pu))
    q.index_add_(0, positives, lr * (g[:, None] * pu - l2 * qi))
    q.index_add_(0, negatives, lr * (-g[:, None] * pu - l2 * qj))
    b.index_add_(0, positives, lr * (g - l2 * bi))
    b.index_add_(0, negatives, lr * (-g - l2 * bj))
    return float(-nn.functional.logsigmoid(x).mean())


def fit_bpr(model: BPR, train: Ratings, epochs: int = 20, lr: float = 0.05, l2: float = 0.01,
            batch_size: int = 1024, seed: int = 0, test: Ratings | None = None, k: int = 10,
            device: str | torch.device | None = None) -> History:
    """Fit on the (user, item) pairs of ``train`` as implicit feedback (training ignores the star values; the
    test precision@k counts test items rated 4 or more as relevant, `ranking_metrics`' default).

    Returns a `History` with the mean ``-ln sigma(x_uij)`` per epoch (``"loss"``) and, when ``test`` is given,
    ``precision@k`` of the top-``k`` lists (`ranking_metrics`, training items excluded).

    ``test`` is only scored after each epoch, for the curves; nothing is chosen on it. Choose settings on a
    validation split instead (e.g. one made by ``random_split`` from the training ratings). ValueError for an
    ``lr`` that is not positive and finite, a negative or non-finite ``l2``, or a ``test`` that is not a split
    of the same `Ratings` (`recsys.check_same_ids`).
    """
    check_positive("epochs", epochs), check_positive("batch_size", batch_size)
    check_lr(lr), check_finite("l2", l2, allow_zero=True, why=" (0: no penalty)")
    if test is not None:
        check_same_ids(train, test)
    model._check(train.users, train.items)  # once here, on the CPU: bpr_step then skips its check
    check_model_sizes(model, train)  # a larger model: rows no rating trains
    device = get_device(device)
    model.to(device)
    users, items = train.users.to(device), train.items.to(device)
    interacted = torch.zeros(train.n_users, train.n_items, dtype=torch.bool, device=device)
    interacted[users, items] = True
    generator = seeded_generator(seed)
    history = History()
    for epoch in progress(range(epochs), total=epochs, desc="BPR epochs"):
        order = torch.randperm(len(users), generator=generator).to(device)
        negatives = sample_negatives(interacted, users, generator)
        losses = []
        for start in range(0, len(order), batch_size):
            pick = order[start:start + batch_size]
            losses.append(bpr_step(model, users[pick], items[pick], negatives[pick], lr, l2, check=False) * len(pick))
        row = {"epoch": epoch + 1, "loss": sum(losses) / len(order)}
        if not (math.isfinite(row["loss"]) and finite_parameters(model)):
            raise FloatingPointError(f"BPR diverged in epoch {epoch + 1} (loss {row['loss']}); lower lr (now {lr}).")
        if test is not None:
            row[f"precision@{k}"] = ranking_metrics(model.scores().cpu(), train, test, k=k)[f"precision@{k}"]
        history.append(row)
    return history.finish(device)


def cornac_dataset(train: Ratings, seed: int = 0):
    """``train``'s (user, item) pairs as a cornac ``Dataset`` (index pairs as strings, every value 1), to fit the
    reference BPR on (cornac, Salah et al. 2020)."""
    from cornac.data import Dataset

    pairs = [(str(u), str(i), 1.0) for u, i in zip(train.users.tolist(), train.items.tolist())]
    return Dataset.from_uir(pairs, seed=seed)


def cornac_scores(model, data, train: Ratings) -> torch.Tensor:
    """The users x items score matrix of a cornac BPR ``model`` fitted on ``data`` (`cornac_dataset` of
    ``train``), rows and columns in ``train``'s index order; items with no training pair score -1e9 (last)."""
    rows = [data.uid_map[str(u)] for u in range(train.n_users)]
    cols = [data.iid_map.get(str(i), 0) for i in range(train.n_items)]
    unseen = [str(i) not in data.iid_map for i in range(train.n_items)]
    scores = torch.from_numpy(model.u_factors[rows] @ model.i_factors[cols].T + model.i_biases[cols][None, :]).float()
    scores[:, unseen] = -1e9
    return scores
