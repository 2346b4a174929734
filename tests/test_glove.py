"""GloVe: counts by hand and against a plain loop, one AdaGrad step against autograd, the optimum against scipy."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from embedkit.errors import EmptyInputError, ShapeError
from embedkit.glove import GloVe, cooccurrence, weighting
from embedkit.corpora import wikipedia_sentences
from embedkit.vocab import Vocabulary


def test_cooccurrence_by_hand(device):
    ids, sentence = torch.tensor([0, 1, 2, 0], device=device), torch.tensor([0, 0, 0, 1], device=device)
    x = cooccurrence(ids, sentence, vocab_size=3, window=2).dense().cpu()
    expected = torch.tensor([[0, 1, 0.5], [1, 0, 1], [0.5, 1, 0]], dtype=torch.float64)
    assert torch.equal(x, expected)  # the last 0 is in another sentence: it pairs with nothing
    assert cooccurrence(ids, sentence, 3, window=1).dense()[0, 2] == 0


@pytest.fixture(scope="module")
def wiki_ids():
    sentences = wikipedia_sentences()
    vocab = Vocabulary.build(sentences, 5)
    return vocab.encode(sentences)


def test_cooccurrence_equals_a_plain_loop(wiki_ids, device):
    ids, sentence = wiki_ids[0][:3000] % 50, wiki_ids[1][:3000]
    expected = np.zeros((50, 50))
    for i in range(len(ids)):
        for d in range(1, 6):
            j = i + d
            if j < len(ids) and sentence[j] == sentence[i]:
                expected[ids[i], ids[j]] += 1 / d
                expected[ids[j], ids[i]] += 1 / d
    counts = cooccurrence(ids.to(device), sentence.to(device), 50, window=5).dense()
    assert np.allclose(counts.cpu().numpy(), expected)


def test_weighting():
    assert weighting(torch.tensor([0.0, 50.0, 100.0, 1e6])).tolist() == pytest.approx([0, 0.5**0.75, 1, 1])


def test_one_adagrad_step_follows_the_gradient(device):
    model = GloVe(3, dim=2, device=device)
    rows, cols = torch.tensor([0], device=device), torch.tensor([2], device=device)
    counts = torch.tensor([7.0], device=device)
    names = ["w", "b", "wc", "bc"]
    params = {n: getattr(model, n).clone().requires_grad_() for n in names}
    p = params
    diff = (p["w"][0] * p["wc"][2]).sum() + p["b"][0] + p["bc"][2] - torch.log(counts[0])
    (0.5 * weighting(counts[0]) * diff**2).backward()
    model.step(rows, cols, counts.log(), weighting(counts))
    # first step: accumulators are 1, so the update is -lr * gradient
    for n in names:
        assert torch.allclose(getattr(model, n), p[n].detach() - 0.05 * p[n].grad, atol=1e-7), n
    assert torch.allclose(model.gradsq_w[0], 1 + (0.05 * p["w"].grad[0]) ** 2)
    assert torch.allclose(model.gradsq_bc[2], 1 + (0.05 * p["bc"].grad[2]) ** 2)
    assert torch.equal(model.gradsq_w[1:].cpu(), torch.ones(2, 2))  # untouched rows keep their accumulators


def test_a_row_repeated_in_a_batch_gets_the_sum_of_its_steps():
    """Word 0 meets contexts 1 and 2 in one batch: both steps use the parameters from before the batch
    (like two glove.c threads reading the same row) and add up, and so do the squared steps."""
    model = GloVe(3, dim=2, device="cpu")
    model.gradsq_w[:] = torch.tensor([4.0, 9.0, 16.0])[:, None]  # accumulators past their start, to see the division
    model.gradsq_b[:] = torch.tensor([25.0, 1.0, 1.0])
    rows, cols, counts = torch.tensor([0, 0]), torch.tensor([1, 2]), torch.tensor([3.0, 20.0])
    w, b, wc, bc = model.w.clone(), model.b.clone(), model.wc.clone(), model.bc.clone()
    acc, acc_b = model.gradsq_w.clone(), model.gradsq_b.clone()
    steps, bias_steps = [], []
    for j, count in zip([1, 2], counts):  # each entry's gradient, times lr, by hand from the old parameters
        diff = float(w[0] @ wc[j] + b[0] + bc[j] - count.log())
        f = float(weighting(count))
        steps.append(0.05 * f * diff * wc[j])
        bias_steps.append(0.05 * f * diff)
    model.step(rows, cols, counts.log(), weighting(counts))
    assert torch.allclose(model.w[0], w[0] - (steps[0] + steps[1]) / acc[0].sqrt(), atol=1e-7)
    assert float(model.b[0]) == pytest.approx(float(b[0]) - sum(bias_steps) / 5.0, abs=1e-7)
    assert torch.allclose(model.gradsq_w[0], acc[0] + steps[0] ** 2 + steps[1] ** 2, atol=1e-6)
    assert float(model.gradsq_b[0]) == pytest.approx(float(acc_b[0]) + sum(s * s for s in bias_steps), abs=1e-6)
    assert torch.equal(model.w[1:], w[1:]) and torch.equal(model.b[1:], b[1:])  # rows 1, 2 are context rows here


def test_adagrad_reaches_the_optimum_found_by_scipy(wiki_ids, device):
    """The same objective on the 40 most frequent words, dim 4: our AdaGrad against L-BFGS from 3 starts."""
    ids, sentence = wiki_ids
    size, dim = 40, 4
    keep = ids < size
    x = cooccurrence(ids[keep], sentence[keep], size, window=10)
    r, c, counts = x.rows.numpy(), x.cols.numpy(), x.counts.numpy()
    f, log_x, n = weighting(torch.tensor(counts)).numpy(), np.log(counts), len(counts)

    def objective(p):
        w, wc = p[:size * dim].reshape(size, dim), p[size * dim:2 * size * dim].reshape(size, dim)
        b, bc = p[2 * size * dim:2 * size * dim + size], p[2 * size * dim + size:]
        diff = (w[r] * wc[c]).sum(1) + b[r] + bc[c] - log_x
        g = f * diff / n
        grad_w, grad_wc = np.zeros_like(w), np.zeros_like(wc)
        np.add.at(grad_w, r, g[:, None] * wc[c])
        np.add.at(grad_wc, c, g[:, None] * w[r])
        grad = np.concatenate([grad_w.ravel(), grad_wc.ravel(), np.bincount(r, g, size), np.bincount(c, g, size)])
        return 0.5 * (f * diff * diff).sum() / n, grad

    best = min(minimize(objective, np.random.default_rng(seed).normal(0, 0.1, 2 * size * (dim + 1)), jac=True,
                        method="L-BFGS-B", options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15}).fun
               for seed in range(3))
    model = GloVe(size, dim, device=device)
    history = model.train(x, epochs=2000, batch_size=256)
    assert model.loss(x) == pytest.approx(best, rel=5e-3)
    assert history[-1]["loss"] == pytest.approx(model.loss(x), rel=0.1)  # measured during the last epoch
    assert history[-1]["loss"] < history[0]["loss"] / 2


def test_bad_input():
    with pytest.raises(EmptyInputError, match="at least two words"):
        cooccurrence(torch.tensor([0]), torch.tensor([0]), 1)
    with pytest.raises(EmptyInputError, match="share a sentence"):
        cooccurrence(torch.tensor([0, 1]), torch.tensor([0, 1]), 2)
    with pytest.raises(ShapeError, match="ids and sentence numbers must be 1-D and of equal length"):
        cooccurrence(torch.tensor([0, 1]), torch.tensor([0]), 2)
    with pytest.raises(ValueError, match="0..1"):
        cooccurrence(torch.tensor([0, 5]), torch.tensor([0, 0]), 2)
    x = cooccurrence(torch.tensor([0, 1, 0]), torch.tensor([0, 0, 0]), 2)
    with pytest.raises(ShapeError, match="model has 3"):
        GloVe(3, 2, device="cpu").train(x, epochs=1)
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        GloVe(2, 2, device="cpu").train(x, epochs=1, batch_size=0)
    with pytest.raises(FloatingPointError, match="lower lr"):
        GloVe(2, 2, lr=1e6, device="cpu").train(cooccurrence(torch.tensor([0, 1] * 50), torch.zeros(100, dtype=torch.long), 2), epochs=5)


def test_gradient_clipping_as_in_glove_c():
    """glove.c (since 2019) clips each component of fx * diff * w~ to +-grad_clip before the rate; biases are not
    clipped. Clipping at 1e9 changes nothing; at 1e-3 the first step of each component is exactly +-1e-3 * lr."""
    rows, cols, counts = torch.tensor([0, 1]), torch.tensor([2, 0]), torch.tensor([7.0, 300.0])
    plain, loose, tight = (GloVe(3, dim=4, device="cpu", grad_clip=c) for c in (None, 1e9, 1e-3))
    for model in (plain, loose, tight):
        model.step(rows, cols, counts.log(), weighting(counts))
    assert torch.allclose(loose.w, plain.w, atol=1e-7) and torch.allclose(loose.wc, plain.wc, atol=1e-7)
    start = GloVe(3, dim=4, device="cpu")
    unclipped = start.w[0] - plain.w[0]  # the first step (accumulators 1): lr * gradient, no clipping
    assert bool((unclipped.abs() > 0.05 * 1e-3).all())  # so every component of the tight model is clipped
    assert torch.allclose(start.w[0] - tight.w[0], 0.05 * 1e-3 * unclipped.sign(), rtol=1e-5)
    assert torch.equal(tight.b, plain.b)  # biases: no clipping
    with pytest.raises(ValueError, match="grad_clip"):
        GloVe(3, 2, grad_clip=0)


@pytest.mark.parametrize("name", ["lr", "x_max", "alpha"])
@pytest.mark.parametrize("value", [0.0, -0.05, float("nan"), float("inf")])
def test_rate_and_weighting_must_be_positive(name, value):
    """lr <= 0 climbs the loss, x_max <= 0 makes every weight NaN: an error at construction, not a diverged fit."""
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
        GloVe(3, 2, device="cpu", **{name: value})
    assert getattr(GloVe(3, 2, device="cpu", **{name: 1e-3}), name) == 1e-3
