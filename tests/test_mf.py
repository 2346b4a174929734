"""Matrix factorisation: closed-form steps by hand, bad input, the biases-only optimum against scikit-learn's Ridge,
Surprise's fitted parameters predicting the same in BiasedMF, and RMSE against scikit-surprise's SVD."""

import time
from pathlib import Path

import pytest
import torch

from embedkit.errors import ShapeError
from embedkit.mf import BiasedMF, fit_als, fit_sgd, recommend, ridge_rows, sklearn_ridge_biases
from embedkit.ratings import Ratings
from embedkit.recsys import movielens_100k, random_split, rmse, surprise_predictions, surprise_trainset

ROOT = Path(__file__).resolve().parent.parent


def test_ridge_rows_equal_numpy_least_squares():
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(5, 30, generator=g) < 0.5).float()
    target, fixed = torch.randn(5, 30, generator=g), torch.randn(30, 4, generator=g)
    solved = ridge_rows(mask, target, fixed, l2=0.3, chunk=2)
    for r in range(5):
        keep = mask[r].bool()
        a, b = fixed[keep].double(), target[r, keep].double()
        expected = torch.linalg.solve(a.T @ a + 0.3 * keep.sum() * torch.eye(4, dtype=torch.float64), a.T @ b)
        assert torch.allclose(solved[r].double(), expected, atol=1e-4)
    damped = ridge_rows(mask, target, fixed, l2=0.3, damping=10.0)
    keep = mask[0].bool()
    a, b = fixed[keep].double(), target[0, keep].double()
    expected = torch.linalg.solve(a.T @ a + 0.3 * (keep.sum() + 10) * torch.eye(4, dtype=torch.float64), a.T @ b)
    assert torch.allclose(damped[0].double(), expected, atol=1e-4)


def test_a_rank_one_matrix_is_recovered(device):
    u, v = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1.0, 0.5, 0.25, 0.75, 1.0])
    full = 1 + torch.outer(u, v) / 3  # ratings between 1 and 5
    users, items = torch.meshgrid(torch.arange(4), torch.arange(5), indexing="ij")
    ratings = Ratings.from_arrays(users.flatten().tolist(), items.flatten().tolist(), full.flatten().numpy())
    model = BiasedMF(4, 5, factors=2)
    fit_als(model, ratings, epochs=50, l2=1e-6, device=device)
    assert torch.allclose(model.predict(ratings.users, ratings.items).cpu(), ratings.values, atol=1e-3)


def test_bad_input():
    model = BiasedMF(3, 4, factors=2)
    with pytest.raises(IndexError, match="Ratings.user"):
        model(torch.tensor([3]), torch.tensor([0]))
    with pytest.raises(IndexError, match="item indices"):
        model(torch.tensor([0]), torch.tensor([-1]))
    with pytest.raises(ShapeError, match="1-D and of equal length"):
        model(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="n_users must be a whole number of at least 1"):
        BiasedMF(0, 4)
    with pytest.raises(ValueError, match="n_items must be a whole number of at least 1"):
        BiasedMF(3, 2.5)
    for factors in (-1, 2.5, True):
        with pytest.raises(ValueError, match="factors must be a whole number of at least 0"):
            BiasedMF(3, 4, factors=factors)
    for scale in ((5.0, 1.0), (1.0, float("nan"))):  # would clamp every prediction to one value
        with pytest.raises(ValueError, match="scale must be .lowest, highest. rating"):
            BiasedMF(3, 4, scale=scale)
    with pytest.raises(ValueError, match="init_std must be a non-negative finite number"):
        BiasedMF(3, 4, init_std=float("nan"))


@pytest.fixture(scope="module")
def split():
    ratings, _ = movielens_100k()
    return random_split(ratings, 0.2, seed=0)


def surprise_svd(train: Ratings, test: Ratings) -> tuple[float, float]:
    from surprise import SVD

    trainset = surprise_trainset(train)
    start = time.perf_counter()
    algorithm = SVD(random_state=0).fit(trainset)
    seconds = time.perf_counter() - start
    return rmse(surprise_predictions(algorithm, test), test.values), seconds


def test_als_and_sgd_beat_surprise_svd_rmse(split, device):
    """Same 80/20 split of MovieLens 100K: both fits reach a lower test RMSE than Surprise's SVD (defaults).

    Fit times are printed by benchmarks/mf_vs_surprise.py, not asserted here.
    """
    train, test = split
    reference, _ = surprise_svd(train, test)
    als = BiasedMF(train.n_users, train.n_items, factors=16)
    fit_als(als, train, device=device)
    sgd = BiasedMF(train.n_users, train.n_items, factors=32)
    fit_sgd(sgd, train, device=device)
    for model in (als, sgd):
        assert rmse(model.predict(test.users, test.items).cpu(), test.values) < reference
    assert 0.90 < reference < 0.96


def test_als_without_factors_reaches_the_ridge_optimum_of_scikit_learn(split, device):
    """With no factors J is a convex ridge regression on the biases: ALS must land on its minimum, the one
    scikit-learn's Ridge finds on the one-hot design (J's per-rating penalty is Surprise's SVD's too)."""
    train, _ = split
    movie_biases = {}
    for l2 in (0.02, 0.3):
        model = BiasedMF(train.n_users, train.n_items, factors=0)
        fit_als(model, train, epochs=30, l2=l2, device=device)
        users, items = sklearn_ridge_biases(train, l2)
        assert float(users.abs().max()) > 0.5 and float(items.abs().max()) > 1  # biases far from 0
        assert torch.allclose(model.user_bias.weight.detach().squeeze(1).cpu().double(), users, atol=1e-5)
        assert torch.allclose(model.item_bias.weight.detach().squeeze(1).cpu().double(), items, atol=1e-5)
        movie_biases[l2] = items
    # a stronger penalty pulls the biases toward 0
    assert float(movie_biases[0.3].abs().mean()) < float(movie_biases[0.02].abs().mean())


def test_bias_reference_and_als_minimise_the_loss_written_out_by_hand():
    """sklearn_ridge_biases and fit_als share embedkit's reading of the loss; here it is written out on three
    ratings, independently of both: J(b) = sum (r - mu - b_u - b_i)^2 + l2 sum_u n_u b_u^2 + l2 sum_i n_i b_i^2,
    whose gradient is zero where (X^T X + l2 diag(n)) b = X^T (r - mu), X the one-hot (user, item) design."""
    import numpy as np

    users, items, values = [0, 0, 1], [0, 1, 0], [5.0, 3.0, 4.0]  # mu = 4
    train = Ratings(torch.tensor(users), torch.tensor(items), torch.tensor(values), torch.zeros(3, dtype=torch.long),
                    ["u0", "u1"], ["i0", "i1"])
    l2 = 0.5
    x = np.zeros((3, 4))
    x[np.arange(3), users] = 1
    x[np.arange(3), [2 + i for i in items]] = 1
    counts = x.sum(axis=0)  # n_u0 = 2, n_u1 = 1, n_i0 = 2, n_i1 = 1
    by_hand = np.linalg.solve(x.T @ x + l2 * np.diag(counts), x.T @ (np.array(values) - 4.0))
    # checked on paper: b_u0 = 1/8, b_u1 = -1/4, b_i0 = 3/8, b_i1 = -3/4 (e.g. b_u1's row: 1.5 b_u1 + b_i0 = 0)
    np.testing.assert_allclose(by_hand, [0.125, -0.25, 0.375, -0.75], atol=1e-12)
    reference = torch.cat(sklearn_ridge_biases(train, l2)).numpy()
    model = BiasedMF(2, 2, factors=0)
    fit_als(model, train, epochs=200, l2=l2, device="cpu")
    als = torch.cat([model.user_bias.weight.detach().squeeze(1), model.item_bias.weight.detach().squeeze(1)])
    np.testing.assert_allclose(reference, by_hand, atol=1e-8)
    np.testing.assert_allclose(als.double().numpy(), by_hand, atol=1e-5)


def test_surprise_svd_parameters_predict_the_same_in_biased_mf(split):
    """The model itself: Surprise's fitted mu, b_u, b_i, p_u, q_i copied into BiasedMF give Surprise's
    predictions (clipped to 1..5); a movie Surprise never saw keeps b_i = q_i = 0, as Surprise predicts it."""
    from surprise import SVD

    train, test = split
    algorithm = SVD(n_factors=8, n_epochs=3, random_state=0).fit(surprise_trainset(train))
    known = algorithm.trainset
    model = BiasedMF(train.n_users, train.n_items, factors=8)
    with torch.no_grad():
        model.mu.fill_(known.global_mean)
        for table, bias, ids, inner, factors, biases in [
                (model.user, model.user_bias, train.user_ids, known.to_inner_uid, algorithm.pu, algorithm.bu),
                (model.item, model.item_bias, train.item_ids, known.to_inner_iid, algorithm.qi, algorithm.bi)]:
            table.weight.zero_(), bias.weight.zero_()
            for index, raw in enumerate(ids):
                try:
                    row = inner(raw)
                except ValueError:  # not in the training ratings
                    continue
                table.weight[index] = torch.from_numpy(factors[row])
                bias.weight[index] = float(biases[row])
    ours = model.predict(test.users, test.items)
    theirs = surprise_predictions(algorithm, test).float()
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert float(theirs.std()) > 0.3  # not a constant prediction


def test_recommendations_exclude_rated_items(split, device):
    train, _ = split
    model = BiasedMF(train.n_users, train.n_items, factors=8)
    fit_als(model, train, epochs=3, device=device)
    seen = {train.item_ids[i] for i in train.items[train.users == train.user(196)].tolist()}
    top = recommend(model, train, 196, k=20)
    assert len(top) == 20 and not seen & {item for item, _ in top}
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)


def test_fits_refuse_a_model_of_the_wrong_size_and_bad_batch_sizes():
    ratings = Ratings.from_arrays([1, 2, 3, 1], [1, 2, 3, 4], [3, 4, 5, 1])  # 3 users, 4 items
    for model in (BiasedMF(4, 3, factors=2), BiasedMF(2, 4, factors=2), BiasedMF(5, 4, factors=2)):
        with pytest.raises(ShapeError, match=r"BiasedMF\(train.n_users, train.n_items"):
            fit_als(model, ratings, epochs=1, device="cpu")
    for batch_size in (0, -1):
        with pytest.raises(ValueError, match="batch_size must be a whole number of at least 1"):
            fit_sgd(BiasedMF(3, 4, factors=2), ratings, epochs=1, batch_size=batch_size, device="cpu")
    for fit in (fit_sgd, fit_als):  # no epochs would return the untrained model
        for epochs in (0, -2):
            with pytest.raises(ValueError, match="epochs must be a whole number of at least 1"):
                fit(BiasedMF(3, 4, factors=2), ratings, epochs=epochs, device="cpu")
    with pytest.raises(ValueError, match="chunk must be a whole number of at least 1"):
        ridge_rows(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 2), l2=0.1, chunk=-1)


def test_recommend_needs_a_positive_integer_k():
    ratings = Ratings.from_arrays([1, 2, 3, 1], [1, 2, 3, 4], [3, 4, 5, 1])
    model = BiasedMF(3, 4, factors=2)
    for k in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
            recommend(model, ratings, 1, k=k)
    assert len(recommend(model, ratings, 1, k=1)) == 1


def test_fits_refuse_bad_learning_rates_penalties_and_a_test_split_indexed_on_its_own():
    ratings = Ratings.from_arrays([1, 1, 2, 2, 3, 3, 4], [10, 11, 10, 12, 11, 12, 10], [5, 3, 4, 2, 1, 5, 4])
    model = lambda: BiasedMF(ratings.n_users, ratings.n_items, factors=2)
    for lr in (0, -0.5, float("nan"), float("inf")):  # 0 left the weights unchanged, silently
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            fit_sgd(model(), ratings, epochs=1, lr=lr, device="cpu")
    for l2 in (0.0, -0.1, float("nan")):  # NaN gave NaN weights, 0 a singular system for a user with one rating
        with pytest.raises(ValueError, match="l2 must be a positive finite number: ALS needs it"):
            fit_als(model(), ratings, epochs=1, l2=l2, device="cpu")
        with pytest.raises(ValueError, match="l2 must be a positive finite number: ALS needs it"):
            sklearn_ridge_biases(ratings, l2)
    for l2 in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="l2 must be a non-negative finite number"):
            fit_sgd(model(), ratings, epochs=1, l2=l2, device="cpu")
    assert len(fit_sgd(model(), ratings, epochs=1, l2=0.0, device="cpu")) == 1  # no penalty is fine for Adam
    alone = Ratings.from_arrays([3, 2, 1], [10, 11, 12], [4, 5, 4])  # indexed on its own: users in another order
    for fit in (fit_sgd, fit_als):
        with pytest.raises(ValueError, match="indexes its users differently.*random_split"):
            fit(model(), ratings, epochs=1, test=alone, device="cpu")
    same = ratings.subset(torch.tensor([0, 2]))
    assert "test rmse" in fit_als(model(), ratings, epochs=1, test=same, device="cpu")[-1]


def test_recommend_refuses_a_model_of_another_size():
    ratings = Ratings.from_arrays([1, 1, 2, 2, 3, 3, 4], [10, 11, 10, 12, 11, 12, 10], [5, 3, 4, 2, 1, 5, 4])
    for users, items in ((4, 2), (4, 6), (5, 3)):  # one item short raised IndexError; more ones made up IDs
        with pytest.raises(ShapeError, match=r"build it as BiasedMF\(train.n_users, train.n_items"):
            recommend(BiasedMF(users, items, factors=2), ratings, 1, k=10)
    assert len(recommend(BiasedMF(4, 3, factors=2), ratings, 1, k=10)) == 1


def test_predict_takes_arrays_and_lists_but_not_fractional_ids():
    import numpy as np

    model = BiasedMF(4, 3, factors=2)
    expected = model.predict(torch.tensor([0, 3]), torch.tensor([1, 2]))
    assert torch.equal(model.predict([0, 3], [1, 2]), expected)
    assert torch.equal(model.predict(np.array([0, 3]), np.array([1, 2], dtype=np.int32)), expected)
    with pytest.raises(TypeError, match="ids must be integers"):
        model.predict(torch.tensor([0.0]), torch.tensor([1.0]))
    with pytest.raises(TypeError, match="ids must be integers"):
        model.predict([0.5], [1])


def test_the_benchmark_fits_with_the_settings_chapter_6_chose(load_script, stored_glue):
    """benchmarks/mf_vs_surprise.py says it fits each method with the size and penalty chapter 6 chose on
    validation data; the chapter's stored choice must be the benchmark's."""
    bench = load_script("benchmarks/mf_vs_surprise.py")
    glued = stored_glue("06_recommender_systems")
    for method, key in [("ALS", "als"), ("Adam", "adam"), ("Surprise SVD", "svd")]:
        assert int(glued[f"best_k_{key}"]) == bench.FACTORS, method
        assert float(glued[f"best_l2_{key}"]) == bench.CHAPTER_6[method], method


def test_the_stored_optimiser_search_reproduces(split, load_script):
    """Chapter 6 reads benchmarks/results/mf_optimiser.txt (scripts/mf_optimiser.py). Its rows must come from the
    script as it stands: two of its validation scores (Surprise's default settings and its chosen ones) recomputed
    here on the chapter's split, to float rounding; and its own-settings rows are each library's defaults."""
    import re

    script = load_script("scripts/mf_optimiser.py")
    stored = (ROOT / "benchmarks" / "results" / "mf_optimiser.txt").read_text()
    fit_part, val = random_split(split[0], test_fraction=0.1, seed=1)
    for l2, settings in [(0.05, {"n_epochs": 20, "lr_all": 0.005}), (0.1, {"n_epochs": 80, "lr_all": 0.005})]:
        found = re.search(rf"Surprise SVD, l2 {l2}, {re.escape(str(settings))}: validation RMSE ([\d.]+)", stored)
        assert found, (l2, settings)
        assert abs(script.score("Surprise SVD", l2, settings, fit_part, val) - float(found.group(1))) < 2e-4
    rows = re.findall(r"^(.+?), l2 ([\d.]+), (\{.*?\}): validation RMSE", stored, re.M)
    assert sorted(rows) == sorted(  # the stored grid is the script's grid: rerun the script after changing it
        (m, str(l2), str(s)) for m, options in script.OPTIMISERS.items() for l2 in script.PENALTIES for s in options
    )
    assert script.OPTIMISERS["embedkit ALS"][0] == {"epochs": 10}
    assert script.OPTIMISERS["embedkit Adam"][0] == {"epochs": 10, "lr": 0.01}
    assert script.OPTIMISERS["Surprise SVD"][0] == {"n_epochs": 20, "lr_all": 0.005}
    import inspect

    assert inspect.signature(fit_als).parameters["epochs"].default == 10
    assert inspect.signature(fit_sgd).parameters["epochs"].default == 10
    assert inspect.signature(fit_sgd).parameters["lr"].default == 0.01
