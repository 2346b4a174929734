import math

import numpy as np
import pytest
import torch

from embedkit.errors import DataIntegrityError, DataNotFoundError, EmptyInputError, ShapeError, UnknownIDError
from embedkit.ratings import Ratings
from embedkit.recsys import (check_index_pairs, leave_last_out, mae, movielens_100k, random_split, ranking_metrics,
                             read_movielens, rmse)


def test_movielens_100k_from_the_package():
    ratings, movies = movielens_100k()
    assert (len(ratings), ratings.n_users, ratings.n_items) == (100_000, 943, 1682)
    assert float(ratings.values.mean()) == pytest.approx(3.52986)
    assert movies["title"][1] == "Toy Story (1995)" and "Animation" in movies["genres"][1]


def test_official_format_reader(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n")
    flags = "|".join(["0"] * 5 + ["1"] + ["0"] * 13)  # unknown, Action, ..., Comedy=1
    (tmp_path / "u.item").write_text(f"242|Kolya (1996)|24-Jan-1997||http://x|{flags}\n"
                                     f"302|L.A. Confidential (1997)|01-Jan-1997||http://y|{flags}\n", encoding="latin-1")
    ratings, movies = read_movielens(tmp_path)
    assert (len(ratings), ratings.n_users, ratings.n_items) == (3, 2, 2)
    assert ratings.user(196) == 0 and ratings.item(302) == 1 and ratings.values.tolist() == [3, 3, 5]
    assert movies["title"][242] == "Kolya (1996)" and movies["genres"][242] == ["Comedy"]
    (tmp_path / "u.data").write_text("1\t2\t3\n")
    with pytest.raises(DataIntegrityError, match="u.data format"):
        read_movielens(tmp_path)
    with pytest.raises(DataNotFoundError, match="grouplens.org"):
        read_movielens(tmp_path / "nowhere")


def test_a_movie_id_that_is_not_a_number_names_the_file_and_line(tmp_path):
    (tmp_path / "u.data").write_text("196\t242\t3\t881250949\n")
    flags = "|".join(["0"] * 19)
    (tmp_path / "u.item").write_text(f"242|Kolya (1996)|24-Jan-1997||http://x|{flags}\n"
                                     f"3O2|L.A. Confidential (1997)|01-Jan-1997||http://y|{flags}\n", encoding="latin-1")
    with pytest.raises(DataIntegrityError, match=r"u.item, line 2: the movie id '3O2' is not a whole number"):
        read_movielens(tmp_path)


def test_ids_are_indexed_and_unknown_ids_are_clear():
    r = Ratings.from_arrays(["ann", "bob", "ann"], ["x", "x", "y"], [5, 3, 1])
    assert r.users.tolist() == [0, 1, 0] and r.items.tolist() == [0, 0, 1]
    assert r.matrix().tolist() == [[5, 1], [3, 0]]
    assert torch.equal(r.sparse().to_dense(), r.matrix()) and len(r.sparse().coalesce().values()) == 3
    with pytest.raises(UnknownIDError, match="cold-start user"):
        r.user("zoe")
    with pytest.raises(UnknownIDError, match="cold-start item"):
        r.item("z")


def test_bad_ratings_are_rejected():
    with pytest.raises(EmptyInputError, match="no ratings given"):
        Ratings.from_arrays([], [], [])
    with pytest.raises(ValueError, match="NaN"):
        Ratings.from_arrays([1, 2], [1, 1], [3, np.nan])
    with pytest.raises(ValueError, match="outside the scale"):
        Ratings.from_arrays([1, 2], [1, 1], [3, 6])
    with pytest.raises(ValueError, match="more than once"):
        Ratings.from_arrays([1, 1], [1, 1], [3, 4])
    with pytest.raises(ValueError, match="same length"):
        Ratings.from_arrays([1, 2], [1], [3, 4])


def test_splits():
    ratings, _ = movielens_100k()
    train, test = random_split(ratings, 0.2, seed=0)
    assert (len(train), len(test)) == (80_000, 20_000)
    assert torch.equal(random_split(ratings, 0.2, seed=0)[1].values, test.values)
    keys = lambda r: set((r.users * 10_000 + r.items).tolist())
    assert not keys(train) & keys(test)
    train, test = leave_last_out(ratings)
    assert len(test) == 943 and sorted(test.users.tolist()) == list(range(943))
    for u in [0, 10, 500]:  # the held-out rating is the user's latest
        assert test.times[test.users == u].item() >= train.times[train.users == u].max().item()
    with pytest.raises(ValueError, match="test_fraction must lie strictly between 0 and 1"):
        random_split(ratings, 1.0)


def test_error_metrics_by_hand():
    assert rmse(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0])) == pytest.approx(math.sqrt(2.5))
    assert mae(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0])) == pytest.approx(1.5)


def test_ranking_metrics_by_hand():
    no_time = torch.zeros(3, dtype=torch.long)
    train = Ratings(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), torch.tensor([5.0, 5.0, 5.0]), no_time,
                    [0, 1], [0, 1, 2, 3])
    # user 0 has seen items 0, 1; user 1 item 0. Test: user 0 likes item 3; user 1 likes items 1 and 2.
    test = Ratings(torch.tensor([0, 1, 1]), torch.tensor([3, 1, 2]), torch.tensor([5.0, 4.0, 4.0]),
                   no_time, train.user_ids, train.item_ids)
    scores = torch.tensor([[9.0, 9.0, 2.0, 1.0],    # ranks item 2, then 3 (0, 1 excluded)
                           [9.0, 1.0, 3.0, 2.0]])   # ranks item 2, 3, 1
    m = ranking_metrics(scores, train, test, k=2)
    assert m["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert m["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    ndcg0 = (1 / math.log2(3)) / 1  # hit at rank 2, one relevant item
    ndcg1 = 1 / (1 + 1 / math.log2(3))  # hit at rank 1, two relevant items
    assert m["ndcg@2"] == pytest.approx((ndcg0 + ndcg1) / 2)
    with pytest.raises(ValueError, match="between 1 and the number of items, 4"):
        ranking_metrics(scores, train, test, k=5)
    with pytest.raises(ShapeError, match="scores must be a users x items matrix"):
        ranking_metrics(scores[0], train, test, k=2)


def test_error_metrics_refuse_broadcasting_and_empty_input():
    for metric in (rmse, mae):
        with pytest.raises(ShapeError, match="Flatten them"):
            metric(torch.tensor([1.0, 2, 3]), torch.tensor([[1.0], [2], [3]]))  # broadcast to 3 x 3 before
        with pytest.raises(ShapeError, match="equal length"):
            metric(torch.tensor([1.0, 2, 3]), torch.tensor([2.0]))
        with pytest.raises(ShapeError, match="equal length"):
            metric(torch.tensor([1.0, 2, 3]), torch.tensor([2.0, 1.0]))
        with pytest.raises(EmptyInputError, match="at least one prediction"):
            metric(torch.tensor([]), torch.tensor([]))


def tiny_ranking_data() -> tuple[Ratings, Ratings]:
    no_time = torch.zeros(3, dtype=torch.long)
    train = Ratings(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), torch.tensor([5.0, 5.0, 5.0]), no_time,
                    [0, 1], [0, 1, 2, 3])
    test = Ratings(torch.tensor([0, 1, 1]), torch.tensor([3, 1, 2]), torch.tensor([5.0, 4.0, 4.0]),
                   no_time, train.user_ids, train.item_ids)
    return train, test


def test_ranking_metrics_refuse_nan_scores_wrong_shapes_and_bad_k():
    train, test = tiny_ranking_data()
    with pytest.raises(ValueError, match="NaN; the model diverged"):
        ranking_metrics(torch.full((2, 4), float("nan")), train, test, k=1)
    with pytest.raises(ShapeError, match="2 users x 4 items"):
        ranking_metrics(torch.rand(2, 3), train, test, k=1)
    with pytest.raises(ShapeError, match="train.n_users"):
        ranking_metrics(torch.rand(1, 4), train, test, k=1)
    with pytest.raises(ValueError, match="k must be a whole number of at least 1"):
        ranking_metrics(torch.rand(2, 4), train, test, k=1.5)


def test_splits_with_an_empty_side_are_refused():
    with pytest.raises(EmptyInputError, match="test part empty"):
        random_split(Ratings.from_arrays([1, 2], [1, 2], [3, 4]))
    six = Ratings.from_arrays(list(range(6)), list(range(6)), [3] * 6)
    with pytest.raises(EmptyInputError, match="another fraction"):
        random_split(six, 0.05)
    with pytest.raises(EmptyInputError, match="train part empty"):
        random_split(six, 0.95)
    assert [len(p) for p in random_split(six, 0.5)] == [3, 3]


def test_times_must_be_whole_numbers():
    assert Ratings.from_arrays([1, 2], [1, 2], [3, 4], times=[10.0, 20]).times.tolist() == [10, 20]
    for bad in ([1.5, 2.0], [1.0, np.nan], [1.0, np.inf]):
        with pytest.raises(ValueError, match="whole-number timestamps"):
            Ratings.from_arrays([1, 2], [1, 2], [3, 4], times=bad)
    with pytest.raises(TypeError, match="integer timestamps"):
        Ratings.from_arrays([1, 2], [1, 2], [3, 4], times=[1, None])


def random_ranking_problem(n_users: int = 30, n_items: int = 50, seed: int = 0):
    """Each user: 5..20 random training items, then 0..15 other items as test ratings of 1..5 stars; float32 scores."""
    rng = np.random.default_rng(seed)
    train_rows, test_rows = [], []
    for u in range(n_users):
        order = rng.permutation(n_items)
        n_train, n_test = rng.integers(5, 21), rng.integers(0, 16)
        train_rows += [(u, i, 3.0) for i in order[:n_train]]
        test_rows += [(u, i, float(r)) for i, r in zip(order[n_train:n_train + n_test], rng.integers(1, 6, n_test))]

    def ratings(rows):
        u, i, v = zip(*rows)
        return Ratings(torch.tensor(u), torch.tensor(i), torch.tensor(v, dtype=torch.float32),
                       torch.zeros(len(rows), dtype=torch.long), list(range(n_users)), list(range(n_items)))

    scores = torch.rand(n_users, n_items, generator=torch.Generator().manual_seed(seed))
    return ratings(train_rows), ratings(test_rows), scores


@pytest.mark.parametrize("k, relevant_from", [(5, 4.0), (10, 4.0), (10, 3.0)])
def test_ranking_metrics_agree_with_cornac_and_sklearn(k, relevant_from):
    """Per user, cornac 3's Precision(k), Recall(k), NDCG(k) and sklearn's ndcg_score on the user's top-k list of the
    items not in train; averaged over the users with a relevant test item. The definitions match: precision is
    hits / k, recall hits / |R| (not / min(k, |R|)), NDCG has binary gains (cornac's 2^rel - 1) and an ideal DCG
    over min(k, |R|) hits. k=5 has users with |R| > k, so the ideal-DCG cut and the recall denominator are
    exercised. ranking_metrics sums in float32, hence the tolerance of 1e-6 (measured differences are ~1e-8)."""
    from cornac.metrics import NDCG, Precision, Recall
    from sklearn.metrics import ndcg_score

    train, test, scores = random_ranking_problem()
    got = ranking_metrics(scores, train, test, k=k, relevant_from=relevant_from)
    s = scores.double().numpy()
    reference = {"precision": [], "recall": [], "ndcg": [], "sklearn_ndcg": []}
    sizes = []
    for u in range(train.n_users):
        seen = set(train.items[train.users == u].tolist())
        candidates = np.array([i for i in range(train.n_items) if i not in seen])
        mine = (test.users == u) & (test.values >= relevant_from)
        relevant = test.items[mine].numpy()
        if len(relevant) == 0:
            continue  # ranking_metrics skips users with nothing relevant
        sizes.append(len(relevant))
        ranked = candidates[np.argsort(-s[u, candidates], kind="stable")]
        reference["precision"].append(Precision(k).compute(gt_pos=relevant, pd_rank=ranked))
        reference["recall"].append(Recall(k).compute(gt_pos=relevant, pd_rank=ranked))
        reference["ndcg"].append(NDCG(k).compute(gt_pos=relevant, pd_rank=ranked))
        reference["sklearn_ndcg"].append(
            ndcg_score(np.isin(candidates, relevant)[None].astype(float), s[u, candidates][None], k=k))
    assert got["users"] == len(sizes) and min(sizes) < k
    if k == 5:
        assert max(sizes) > k
    assert got[f"precision@{k}"] == pytest.approx(np.mean(reference["precision"]), abs=1e-6)
    assert got[f"recall@{k}"] == pytest.approx(np.mean(reference["recall"]), abs=1e-6)
    assert got[f"ndcg@{k}"] == pytest.approx(np.mean(reference["ndcg"]), abs=1e-6)
    assert got[f"ndcg@{k}"] == pytest.approx(np.mean(reference["sklearn_ndcg"]), abs=1e-6)


def test_ranking_metrics_refuse_a_test_split_indexed_on_its_own():
    """A test set built by its own from_arrays call numbers its users and items in another order: its index
    pairs would name other users, silently."""
    train = Ratings.from_arrays([1, 1, 2, 2, 3, 3], [10, 11, 10, 12, 11, 12], [5, 3, 4, 2, 1, 5])
    scores = torch.rand(train.n_users, train.n_items, generator=torch.Generator().manual_seed(0))
    alone = Ratings.from_arrays([3, 2, 1], [10, 11, 12], [4, 5, 4])  # user 3 gets index 0, train's user 1
    with pytest.raises(ValueError, match="indexes its users differently.*random_split, leave_last_out or subset"):
        ranking_metrics(scores, train, alone, k=1)
    same_users = Ratings.from_arrays([1, 2, 3], [12, 11, 10], [4, 5, 4])  # users in train's order, items not
    with pytest.raises(ValueError, match="indexes its items differently"):
        ranking_metrics(scores, train, same_users, k=1)
    split = train.subset(torch.tensor([0, 3, 5]))  # the same Ratings: the same lists
    assert ranking_metrics(scores, train.subset(torch.tensor([1, 2, 4])), split, k=1)["users"] >= 1
    copied = Ratings(split.users, split.items, split.values, split.times, list(train.user_ids),
                     list(train.item_ids))  # equal lists, not the same objects: fine
    assert ranking_metrics(scores, train, copied, k=1) == ranking_metrics(scores, train, split, k=1)


def test_missing_ids_are_refused_with_a_count():
    with pytest.raises(ValueError, match="2 user IDs are missing .*drop those rows"):
        Ratings.from_arrays(list(np.array([1.0, np.nan, np.nan])), [10, 11, 12], [3, 4, 5])
    with pytest.raises(ValueError, match="1 item IDs are missing"):
        Ratings.from_arrays([1, 2, 3], ["a", None, "b"], [3, 4, 5])
    import pandas as pd

    with pytest.raises(ValueError, match="1 user IDs are missing"):
        Ratings.from_arrays(pd.array([1, pd.NA, 3], dtype="Int64"), [10, 11, 12], [3, 4, 5])
    assert Ratings.from_arrays([1.0, 2.5], ["nan", "x"], [3, 4]).n_items == 2  # the string "nan" is an ID


def test_an_unknown_id_of_the_other_type_is_pointed_out():
    ints = Ratings.from_arrays([1, 2], [10, 20], [3, 4])
    with pytest.raises(UnknownIDError, match="of type int, and 1 is one of them: pass 1, not '1'"):
        ints.user("1")
    with pytest.raises(UnknownIDError, match="pass 20, not '20'"):
        ints.item("20")
    strings = Ratings.from_arrays(["1", "2"], ["a", "b"], [3, 4])
    with pytest.raises(UnknownIDError, match="pass '2', not 2"):
        strings.user(2)
    with pytest.raises(UnknownIDError, match=r"first\.$"):  # a truly unknown user: no hint
        ints.user("7")


def test_index_pairs_must_be_integer_tensors():
    for bad in (torch.tensor([0.0]), torch.tensor([True])):
        with pytest.raises(TypeError, match="ids must be integers"):
            check_index_pairs(bad, torch.tensor([0]), 2, 2, "BiasedMF")
        with pytest.raises(TypeError, match="ids must be integers"):
            check_index_pairs(torch.tensor([0]), bad, 2, 2, "BiasedMF")
    with pytest.raises(TypeError, match="torch.as_tensor"):
        check_index_pairs([0], torch.tensor([0]), 2, 2, "BiasedMF")
    check_index_pairs(torch.tensor([1], dtype=torch.int32), torch.tensor([0]), 2, 2, "BiasedMF")
