"""Dense retrieval: the in-batch negatives loss against sentence-transformers' MultipleNegativesRankingLoss
(value and gradient), the metrics by hand and against scikit-learn, the news pairs' split, and bad input."""

import math

import pytest
import torch

from embedkit.errors import EmptyInputError, ShapeError, UnknownIDError
from embedkit.retrieval import in_batch_negatives_loss, news_retrieval_pairs, retrieval_metrics


def batch(n: int = 6, d: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """Queries, positives near them (so the loss is far from log N) and hard negatives, in float64."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, d, generator=g, dtype=torch.float64)
    p = q + 1.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    h = q + 1.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return [q, 3 * p, 0.5 * h]  # different norms: the similarity must be the cosine


@pytest.mark.parametrize("scale", [20.0, 7.5])
@pytest.mark.parametrize("hard", [False, True])
def test_loss_matches_multiple_negatives_ranking_loss(mnrl, value_and_grads, scale, hard):
    columns = batch() if hard else batch()[:2]
    ours, our_grads = value_and_grads(lambda c: in_batch_negatives_loss(c[0], c[1], scale, c[2] if hard else None), columns)
    theirs, their_grads = value_and_grads(lambda c: mnrl(c, scale), columns)
    assert float(ours) > 0.1 and abs(float(ours) - math.log(len(columns[0]))) > 0.1  # not a degenerate batch
    assert abs(float(ours) - float(theirs)) < 1e-6
    for mine, ref in zip(our_grads, their_grads):
        assert float(mine.abs().max()) > 1e-3  # every column gets a gradient
        assert float((mine - ref).abs().max()) < 1e-6


def test_the_parity_check_can_fail(mnrl):
    """A wrong scale, or dropping the hard-negative column, moves the loss far beyond the 1e-6 tolerance."""
    q, p, h = batch()
    assert abs(float(in_batch_negatives_loss(q, p, 7.5)) - float(mnrl([q, p], 20.0))) > 1e-2
    assert abs(float(in_batch_negatives_loss(q, p, 20.0)) - float(mnrl([q, p, h], 20.0))) > 1e-2
    # sentence-transformers shows every query all the batch's hard negatives, not only its own
    cos = torch.nn.functional.cosine_similarity
    own_only = torch.stack([torch.cat([cos(q[i][None], p), cos(q[i], h[i], dim=0)[None]]) for i in range(len(q))])
    own_only_loss = torch.nn.functional.cross_entropy(20.0 * own_only, torch.arange(len(q)))
    assert abs(float(own_only_loss) - float(mnrl([q, p, h], 20.0))) > 1e-2


def test_loss_by_hand():
    """Two orthogonal pairs, each positive equal to its query (up to length): each query's logits are
    (20, 0), so the loss is -log(e^20 / (e^20 + 1)) = log(1 + e^-20)."""
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    assert float(in_batch_negatives_loss(q, 5 * q)) == pytest.approx(math.log1p(math.exp(-20)), rel=1e-9)


def test_loss_bad_input():
    q = torch.randn(4, 3)
    with pytest.raises(ShapeError, match="same shape"):
        in_batch_negatives_loss(q, torch.randn(4, 2))
    with pytest.raises(ShapeError, match="same shape"):
        in_batch_negatives_loss(q[0], q[0])
    with pytest.raises(ShapeError, match="one per query"):
        in_batch_negatives_loss(q, q, hard_negatives=torch.randn(8, 3))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        in_batch_negatives_loss(q[:1], q[:1])
    for scale in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match="scale must be a positive"):
            in_batch_negatives_loss(q, q, scale=scale)
    with pytest.raises(TypeError, match="floating point"):
        in_batch_negatives_loss(torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))


# Three queries, four documents. Rankings (best first) and relevant documents:
#   q0: scores (.9, .1, .5, .3) -> docs 0, 2, 3, 1; relevant {2}: rank 2
#   q1: scores (.2, .8, .4, .6) -> docs 1, 3, 2, 0; relevant {1, 3}: ranks 1 and 2
#   q2: scores (.7, .6, .5, .4) -> docs 0, 1, 2, 3; relevant {0, 3}: ranks 1 and 4
# recall@1 = (0 + 1/2 + 1/2) / 3 = 1/3;  recall@3 = (1 + 1 + 1/2) / 3 = 5/6
# MRR@10 = (1/2 + 1 + 1) / 3 = 5/6
# nDCG@10 = (1/log2(3)  +  (1 + 1/log2(3)) / (1 + 1/log2(3))  +  (1 + 1/log2(5)) / (1 + 1/log2(3))) / 3
#         = (0.630930 + 1 + 0.877215) / 3 = 0.836048
SCORES = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.4, 0.6], [0.7, 0.6, 0.5, 0.4]])


def test_metrics_by_hand():
    m = retrieval_metrics(SCORES, [{2}, {1, 3}, {0, 3}], ks=(1, 3))
    assert set(m) == {"recall@1", "recall@3", "mrr@10", "ndcg@10"}
    assert m["recall@1"] == pytest.approx(1 / 3)  # "at least one in the top 1" would give 2/3
    assert m["recall@3"] == pytest.approx(5 / 6)
    assert m["mrr@10"] == pytest.approx(5 / 6)
    assert m["ndcg@10"] == pytest.approx(0.836048, abs=1e-6)
    # one id per query as a tensor: q0 -> doc 2 (rank 2), q1 -> doc 1 (rank 1), q2 -> doc 0 (rank 1)
    m = retrieval_metrics(SCORES, torch.tensor([2, 1, 0]), ks=(1, 3))
    assert retrieval_metrics(SCORES, [2, 1, 0], ks=(1, 3)) == m
    assert m["recall@1"] == pytest.approx(2 / 3) and m["recall@3"] == 1.0
    assert m["mrr@10"] == pytest.approx(5 / 6)
    assert m["ndcg@10"] == pytest.approx((1 / math.log2(3) + 2) / 3)


def test_per_query_values_average_to_the_metrics():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(12, 30, generator=g)
    relevant = [{i, (i * 7) % 30} for i in range(12)]
    means = retrieval_metrics(scores, relevant, ks=(1, 5, 10))
    each = retrieval_metrics(scores, relevant, ks=(1, 5, 10), per_query=True)
    assert set(each) == set(means) and all(v.shape == (12,) for v in each.values())
    assert all(abs(float(each[name].mean()) - means[name]) < 1e-12 for name in means)
    one = retrieval_metrics(torch.tensor([[0.1, 0.9, 0.5]]), torch.tensor([2]), ks=(1,), per_query=True)
    assert one["mrr@10"].tolist() == [0.5] and one["recall@1"].tolist() == [0.0]  # relevant document ranked 2nd


def test_metrics_ties_rank_by_id():
    m = retrieval_metrics(torch.zeros(2, 5), torch.tensor([0, 4]), ks=(1, 5))
    assert m["recall@1"] == 0.5 and m["recall@5"] == 1.0 and m["mrr@10"] == pytest.approx((1 + 1 / 5) / 2)


def test_metrics_against_a_loop_and_scikit_learn():
    from sklearn.metrics import ndcg_score

    g = torch.Generator().manual_seed(1)
    scores = torch.randn(40, 30, generator=g, dtype=torch.float64)
    relevant = [set(torch.randperm(30, generator=g)[: 1 + q % 4].tolist()) for q in range(40)]
    m = retrieval_metrics(scores, relevant, ks=(1, 5, 10))
    ranking = scores.argsort(dim=1, descending=True).tolist()
    for k in (1, 5, 10):
        assert m[f"recall@{k}"] == pytest.approx(sum(len(r & set(ranking[q][:k])) / len(r)
                                                     for q, r in enumerate(relevant)) / 40)
    rr = [next((1 / (i + 1) for i, d in enumerate(ranking[q][:10]) if d in r), 0.0) for q, r in enumerate(relevant)]
    assert m["mrr@10"] == pytest.approx(sum(rr) / 40)
    gains = [[float(d in r) for d in range(30)] for r in relevant]
    assert m["ndcg@10"] == pytest.approx(ndcg_score(gains, scores.numpy(), k=10))


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="between 1 and the number of documents, 4"):
        retrieval_metrics(SCORES, torch.tensor([0, 1, 2]), ks=(1, 10))
    with pytest.raises(ValueError, match="between 1"):
        retrieval_metrics(SCORES, torch.tensor([0, 1, 2]), ks=(0,))
    with pytest.raises(EmptyInputError):
        retrieval_metrics(torch.zeros(0, 4), torch.tensor([], dtype=torch.long))
    with pytest.raises(EmptyInputError):
        retrieval_metrics(torch.zeros(3, 0), torch.tensor([0, 0, 0]), ks=())
    with pytest.raises(EmptyInputError, match="query 1 has no relevant"):
        retrieval_metrics(SCORES, [{0}, set(), {1}], ks=(1,))
    with pytest.raises(UnknownIDError, match="id 4 is not a column"):
        retrieval_metrics(SCORES, torch.tensor([0, 4, 1]), ks=(1,))
    with pytest.raises(UnknownIDError, match="id -1"):
        retrieval_metrics(SCORES, [{0}, {1}, {-1, 2}], ks=(1,))
    with pytest.raises(ShapeError, match="one entry per query"):
        retrieval_metrics(SCORES, torch.tensor([0, 1]), ks=(1,))
    with pytest.raises(ShapeError, match="1-D"):
        retrieval_metrics(SCORES, torch.tensor([[0], [1], [2]]), ks=(1,))
    with pytest.raises(TypeError, match="integers"):
        retrieval_metrics(SCORES, torch.tensor([0.0, 1.0, 2.0]), ks=(1,))
    with pytest.raises(ShapeError, match="queries x documents"):
        retrieval_metrics(SCORES[0], torch.tensor([0]), ks=(1,))
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics(torch.full((3, 4), math.nan), torch.tensor([0, 1, 2]), ks=(1,))



def test_metrics_accept_arrays_and_reject_other_ids_and_ks():
    import numpy as np

    expected = retrieval_metrics(SCORES, torch.tensor([2, 1, 0]), ks=(1, 3))
    assert retrieval_metrics(SCORES, np.array([2, 1, 0]), ks=(1, 3)) == expected  # one id per query, as an array
    assert retrieval_metrics(SCORES, list(torch.tensor([2, 1, 0])), ks=(1, 3)) == expected  # 0-d tensors
    assert retrieval_metrics(SCORES, [np.int64(2), {np.int64(1)}, torch.tensor([0])], ks=(1, 3)) == expected
    assert retrieval_metrics(SCORES, [2, 1, 0], ks=(np.int64(1), 3)) == expected
    with pytest.raises(TypeError, match="relevant document ids must be integers; got str '12'"):
        retrieval_metrics(SCORES, ["12", {1}, {0}], ks=(1,))
    with pytest.raises(TypeError, match="must be integers; got float"):
        retrieval_metrics(SCORES, [{2.0}, {1}, {0}], ks=(1,))
    with pytest.raises(TypeError, match="integers"):
        retrieval_metrics(SCORES, np.array([2.0, 1.0, 0.0]), ks=(1,))
    for ks in ((1.7,), (True,), ("1",), 5):
        with pytest.raises(ValueError, match=r"ks must be a sequence of whole numbers such as \(1, 10\)"):
            retrieval_metrics(SCORES, [2, 1, 0], ks=ks)
    with pytest.raises(ValueError, match=r"number of documents, 4; got 10. Pass smaller ks, such as ks=\(1,\)"):
        retrieval_metrics(SCORES, [2, 1, 0])  # the default (1, 10) needs 10 documents, as the docstring says


@pytest.fixture(scope="module")
def splits():
    return news_retrieval_pairs(seed=0), news_retrieval_pairs(seed=0), news_retrieval_pairs(seed=1)


def test_news_pairs_split_by_article(splits):
    from embedkit.corpora import news_articles

    articles = news_articles()
    usable, seen = [], set()
    for i, article in enumerate(articles):
        if article[0].strip() and article not in seen:
            seen.add(article)
            usable.append(i)
    assert len(articles) == 3788 and len(usable) == 3788 - 59 - 2  # 59 without a title, 2 exact repeats
    pairs, again, other = splits
    parts = [pairs.articles[name] for name in ("train", "validation", "test")]
    assert [len(p) for p in parts] == [round(0.8 * len(usable)), round(0.1 * len(usable)),
                                       len(usable) - round(0.8 * len(usable)) - round(0.1 * len(usable))]
    assert set(parts[0]).isdisjoint(parts[1]) and set(parts[0]).isdisjoint(parts[2]) and set(parts[1]).isdisjoint(parts[2])
    assert sorted(parts[0] + parts[1] + parts[2]) == usable  # every usable article, once
    for name in ("train", "validation", "test"):
        rows = getattr(pairs, name)
        assert rows == [(articles[i][0].strip(), " ".join(articles[i][1].split()[:64])) for i in pairs.articles[name]]
        assert all(query and document for query, document in rows)
    assert max(len(d.split()) for _, d in pairs.train) == 64
    assert again == pairs and again.articles == pairs.articles  # same seed, same split
    assert other.articles["test"] != pairs.articles["test"]  # another seed, another split
    short = news_retrieval_pairs(seed=0, fractions=(0.5, 0.25, 0.25), opening_words=5)
    assert len(short.train) == round(0.5 * len(usable)) and max(len(d.split()) for _, d in short.test) == 5


def test_news_pairs_bad_input():
    with pytest.raises(ValueError, match="sum to 1"):
        news_retrieval_pairs(fractions=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match="three positive shares"):
        news_retrieval_pairs(fractions=(0.9, 0.1, 0.0))
    with pytest.raises(ValueError, match="opening_words"):
        news_retrieval_pairs(opening_words=0)
