"""Ratings data for recommender systems: loading, splits and metrics, on `ratings.Ratings`.

- `movielens_100k` reads MovieLens 100K (Harper and Konstan 2015) from the files
  that the ``recbole`` wheel ships, sha256-checked; `read_movielens` reads the
  official ``u.data`` / ``u.item`` files from a folder you name (the GroupLens
  terms forbid shipping them: download them yourself).
- `random_split` and `leave_last_out` make reproducible train/test splits.
- `surprise_trainset` and `surprise_predictions` hand ratings to scikit-surprise
  and take its predictions back, for the reference models.
- `rmse`, `mae` and `ranking_metrics` (precision, recall, NDCG at k, with
  training items excluded from the ranking) measure the models.

Left out: the larger MovieLens sets (their ``ratings.csv`` / ``ratings.dat``
formats). Implicit feedback and its negative sampling are in `bpr`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .data import data_path
from .device import seeded_generator, widest_float
from .errors import (DataIntegrityError, DataNotFoundError, EmptyInputError, ShapeError, check_positive, check_ids,
                     check_real)
from .ratings import Ratings


def check_same_ids(train: Ratings, test: Ratings) -> None:
    """A ValueError unless ``test`` indexes users and items as ``train`` does (the same raw ID lists), as the
    splits of one `Ratings` do; else its index pairs would name other users and items."""
    for name in ("user", "item"):
        ours, theirs = getattr(train, f"{name}_ids"), getattr(test, f"{name}_ids")
        if ours is not theirs and ours != theirs:
            raise ValueError(f"test indexes its {name}s differently from train (another {name}_ids list), so "
                             f"its index pairs would name other {name}s. Build test with random_split, "
                             "leave_last_out or subset of the same Ratings.")


def check_model_sizes(model, train: Ratings) -> None:
    """A ShapeError unless ``model`` (`mf.BiasedMF`, `bpr.BPR`: ``user`` and ``item`` tables) has one row per user
    and per item of ``train``: a larger model would keep rows that no rating trains and rank them anyway."""
    sizes = (model.user.num_embeddings, model.item.num_embeddings)
    if sizes != (train.n_users, train.n_items):
        raise ShapeError(f"the model has {sizes[0]} users and {sizes[1]} items, the ratings {train.n_users} and "
                         f"{train.n_items}; build it as {type(model).__name__}(train.n_users, train.n_items, ...).")


def check_index_pairs(users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int, model: str) -> None:
    """(user, item) index pairs for a ``model`` of ``n_users`` x ``n_items``: integer tensors, 1-D, of equal
    length, in range. Reading the range makes a GPU wait: the training loops check their data once, up front."""
    for name, ids in (("user", users), ("item", items)):
        check_ids(f"{name} ids", ids, hint=f"Translate raw IDs with Ratings.{name}().")
    if users.shape != items.shape or users.ndim != 1:
        raise ShapeError(f"users and items must be 1-D and of equal length; got {tuple(users.shape)}, "
                         f"{tuple(items.shape)}.")
    for name, ids, n in (("user", users, n_users), ("item", items, n_items)):
        check_ids(f"{name} indices", ids, n, f"Translate raw IDs with Ratings.{name}() and build the model as "
                  f"{model}(train.n_users, train.n_items, ...).")


def surprise_trainset(ratings: Ratings):
    """The same ratings as a scikit-surprise ``Trainset`` (raw IDs kept), to fit the reference models on."""
    import pandas as pd
    from surprise import Dataset, Reader

    frame = pd.DataFrame({"user": [ratings.user_ids[u] for u in ratings.users.tolist()],
                          "item": [ratings.item_ids[i] for i in ratings.items.tolist()],
                          "rating": ratings.values.numpy()})
    return Dataset.load_from_df(frame, Reader(rating_scale=ratings.scale)).build_full_trainset()


def surprise_predictions(algorithm, ratings: Ratings) -> torch.Tensor:
    """A fitted scikit-surprise ``algorithm``'s predicted stars for every row of ``ratings`` (looked up by raw ID),
    in row order, in float64 as Surprise computes them."""
    return torch.tensor([algorithm.predict(ratings.user_ids[u], ratings.item_ids[i]).est
                         for u, i in zip(ratings.users.tolist(), ratings.items.tolist())], dtype=torch.float64)


def random_split(ratings: Ratings, test_fraction: float = 0.2, seed: int = 0) -> tuple[Ratings, Ratings]:
    """A random split of the rows into train and test."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}.")
    order = torch.randperm(len(ratings), generator=seeded_generator(seed))
    cut = int(round(len(ratings) * (1 - test_fraction)))
    if not 0 < cut < len(ratings):
        raise EmptyInputError(f"splitting {len(ratings)} ratings with test_fraction={test_fraction} leaves the "
                              f"{'train' if cut == 0 else 'test'} part empty; use more ratings or another fraction.")
    return ratings.subset(order[:cut]), ratings.subset(order[cut:])


def leave_last_out(ratings: Ratings) -> tuple[Ratings, Ratings]:
    """Per user, the latest rating goes to test (ties broken by row order), the rest to train."""
    order = np.lexsort((np.arange(len(ratings)), ratings.times.numpy(), ratings.users.numpy()))
    users = ratings.users.numpy()[order]
    last = np.r_[users[1:] != users[:-1], True]  # the final row of each user's run
    return ratings.subset(torch.from_numpy(order[~last])), ratings.subset(torch.from_numpy(order[last]))


def _check_errors(predicted: torch.Tensor, actual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as tensors, 1-D, of one length (no broadcasting), not empty and finite."""
    predicted, actual = torch.as_tensor(predicted), torch.as_tensor(actual)
    check_real("predicted ratings", predicted), check_real("actual ratings", actual)
    if predicted.ndim != 1 or predicted.shape != actual.shape:
        raise ShapeError(f"predicted and actual ratings must be 1-D and of equal length; got {tuple(predicted.shape)} "
                         f"and {tuple(actual.shape)}. Flatten them first, e.g. predicted.flatten().")
    if len(predicted) == 0:
        raise EmptyInputError("no ratings to compare; pass at least one prediction (is the test split empty?).")
    for name, values in (("predicted", predicted), ("actual", actual)):
        if not bool(torch.isfinite(values).all()):
            raise ValueError(f"the {name} ratings hold NaN or infinity; check the model (did its fit diverge?) "
                             "or the data.")
    return predicted, actual


def rmse(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """Root mean squared error."""
    predicted, actual = _check_errors(predicted, actual)
    wide = widest_float(predicted.device)
    return math.sqrt(float(((predicted.to(wide) - actual.to(wide)) ** 2).mean()))


def mae(predicted: torch.Tensor, actual: torch.Tensor) -> float:
    """Mean absolute error."""
    predicted, actual = _check_errors(predicted, actual)
    wide = widest_float(predicted.device)
    return float((predicted.to(wide) - actual.to(wide)).abs().mean())


def ranking_metrics(scores: torch.Tensor, train: Ratings, test: Ratings, k: int = 10,
                    relevant_from: float = 4.0) -> dict[str, float]:
    """Precision@k, recall@k and NDCG@k of top-k lists from a ``users x items`` score matrix.

    Items the user rated in ``train`` are excluded from the ranking. Relevant
    items are the user's test items rated at least ``relevant_from``; users
    without any are skipped. NDCG uses binary gains.

    ``test`` must index users and items as ``train`` does (a split of the same `Ratings`: `random_split`,
    `leave_last_out`, `Ratings.subset`); a ValueError otherwise.
    """
    scores = torch.as_tensor(scores)  # a numpy matrix, too
    if scores.ndim != 2:
        raise ShapeError(f"scores must be a users x items matrix; got shape {tuple(scores.shape)}.")
    if check_positive("k", k) > scores.shape[1]:
        raise ValueError(f"k={k} must be between 1 and the number of items, {scores.shape[1]}.")
    if scores.shape != (train.n_users, train.n_items):
        raise ShapeError(f"scores must be {train.n_users} users x {train.n_items} items, as in train; got "
                         f"{tuple(scores.shape)}. Build the model with train.n_users and train.n_items.")
    check_same_ids(train, test)
    scores = scores.detach().clone().float().cpu()
    if bool(scores.isnan().any()):
        raise ValueError(f"{int(scores.isnan().sum())} scores are NaN; the model diverged or was not fitted: "
                         "lower the learning rate or check its input.")
    scores[train.users, train.items] = -torch.inf
    relevant = torch.zeros_like(scores, dtype=torch.bool)
    good = test.values >= relevant_from
    relevant[test.users[good], test.items[good]] = True
    users = torch.nonzero(relevant.any(dim=1)).flatten()
    if len(users) == 0:
        raise EmptyInputError(f"no test rating is >= {relevant_from}: nothing relevant to rank.")
    top = scores[users].topk(k, dim=1).indices
    hits = relevant[users[:, None], top].float()  # (users, k)
    n_relevant = relevant[users].sum(dim=1).float()
    discounts = 1 / torch.log2(torch.arange(2, k + 2).float())
    ideal = torch.stack([discounts[: int(min(n, k))].sum() for n in n_relevant.tolist()])
    return {f"precision@{k}": float(hits.mean()), f"recall@{k}": float((hits.sum(1) / n_relevant).mean()),
            f"ndcg@{k}": float(((hits * discounts).sum(1) / ideal).mean()), "users": len(users)}


def movielens_100k() -> tuple[Ratings, dict]:
    """MovieLens 100K from the recbole wheel: ratings, plus ``{'title': {id: str}, 'genres': {id: [str]}}``."""
    ratings_file, items_file = data_path("movielens-100k-ratings"), data_path("movielens-100k-items")
    rows = np.loadtxt(ratings_file, delimiter="\t", skiprows=1, dtype=np.int64)
    ratings = Ratings.from_arrays(rows[:, 0].tolist(), rows[:, 1].tolist(), rows[:, 2], rows[:, 3])
    titles, genres = {}, {}
    for line in items_file.read_text(encoding="latin-1").splitlines()[1:]:
        movie, title, year, classes = line.split("\t")
        titles[int(movie)] = f"{title} ({year})" if year else title
        genres[int(movie)] = classes.split()
    return ratings, {"title": titles, "genres": genres}


GENRES_100K = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
               "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
               "War", "Western"]


def read_movielens(folder: str | Path) -> tuple[Ratings, dict]:
    """MovieLens 100K in its official format: ``u.data`` (user, item, rating, time; tabs) and ``u.item`` (``|``).

    Download ``ml-100k.zip`` from https://grouplens.org/datasets/movielens/ and unzip it;
    pass the folder that holds ``u.data``.
    """
    folder = Path(folder)
    data, item = folder / "u.data", folder / "u.item"
    if not data.is_file() or not item.is_file():
        raise DataNotFoundError(
            f"{folder} does not hold u.data and u.item. Download ml-100k.zip from "
            "https://grouplens.org/datasets/movielens/100k/, unzip it, and pass the ml-100k folder "
            "(or use embedkit.recsys.movielens_100k(), which reads the copy in the recbole package)."
        )
    try:
        rows = np.loadtxt(data, delimiter="\t", dtype=np.int64, ndmin=2)
        if rows.shape[1] != 4:
            raise ValueError(f"expected 4 columns, found {rows.shape[1]}")
    except ValueError as exc:
        raise DataIntegrityError(f"{data} is not in the u.data format (user, item, rating, timestamp): {exc}") from None
    ratings = Ratings.from_arrays(rows[:, 0].tolist(), rows[:, 1].tolist(), rows[:, 2], rows[:, 3])
    titles, genres = {}, {}
    for number, line in enumerate(item.read_text(encoding="latin-1").splitlines(), 1):
        parts = line.split("|")
        if len(parts) != 5 + len(GENRES_100K):
            raise DataIntegrityError(f"{item}, line {number}: expected {5 + len(GENRES_100K)} '|'-separated fields.")
        try:
            movie = int(parts[0])
        except ValueError:
            raise DataIntegrityError(f"{item}, line {number}: the movie id {parts[0]!r} is not a whole number; "
                                     "the file is corrupted: unzip ml-100k.zip again.") from None
        titles[movie] = parts[1]
        genres[movie] = [g for g, flag in zip(GENRES_100K, parts[5:]) if flag == "1"]
    return ratings, {"title": titles, "genres": genres}
