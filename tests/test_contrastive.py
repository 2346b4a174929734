"""SimCLR: the NT-Xent loss against a loop over the paper's formula and by hand, the augmentations,
bad input, and a short training run on real images that lowers the loss."""

import math

import pytest
import torch
from torch.nn import functional as F

from embedkit.contrastive import SimCLR, augment, nt_xent, simclr_loss
from embedkit.errors import ShapeError
from embedkit.train import fit


def nt_xent_loop(z1, z2, t):
    """Chen et al. (2020), Algorithm 1, written as loops: l(i, j) = -log exp(s_ij/t) / sum_{k != i} exp(s_ik/t)."""
    z = [F.normalize(v, dim=0) for v in torch.cat([z1, z2])]
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        denominator = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / denominator)
    return total / (2 * n)


def test_nt_xent_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    for t in (0.1, 0.5, 1.0):
        assert float(nt_xent(z1, z2, t)) == pytest.approx(nt_xent_loop(z1, z2, t), rel=1e-5)


def test_nt_xent_by_hand():
    """Two images, views equal to each other, the two images orthogonal: each view's candidates are its
    partner (cosine 1) and two others (cosine 0): loss = -log(e^2 / (e^2 + 2)) at t = 0.5."""
    z1 = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    assert float(nt_xent(z1, z1.clone(), 0.5)) == pytest.approx(-math.log(math.e ** 2 / (math.e ** 2 + 2)), rel=1e-6)


def test_nt_xent_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.ones(1, 3), torch.ones(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        nt_xent(torch.ones(2, 3), torch.ones(2, 3), temperature=0)


def test_augment_makes_different_valid_views():
    from embedkit.images import fashion_mnist, to_float

    x = to_float(fashion_mnist("test")[0][:64])
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    c = augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)  # seeded: repeatable
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert float((a - c).abs().mean()) > 0.05  # two draws differ
    # a view is still the same picture: on average closer to its own image than to the others
    distance = torch.cdist(a.flatten(1), x.flatten(1))
    assert float(distance.diag().mean()) < 0.8 * float(distance.mean())
    with pytest.raises(ShapeError, match=r"channel axis with x\.unsqueeze\(1\)"):
        augment(torch.zeros(3, 28, 28))
    with pytest.raises(TypeError, match=r"expected float pixels in \[0, 1\]"):
        augment(torch.zeros(3, 1, 28, 28, dtype=torch.uint8))


def test_augment_min_scale_must_be_a_share():
    """min_scale=-1 used to give NaN views (the square root of a negative area share), without an error."""
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    for bad in (-1.0, 0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"min_scale must lie in \(0, 1\]"):
            augment(x, torch.Generator().manual_seed(0), min_scale=bad)
    for fine in (1e-3, 1.0):
        assert torch.isfinite(augment(x, torch.Generator().manual_seed(0), min_scale=fine)).all()


def test_short_training_lowers_the_loss(device):
    from embedkit.images import fashion_mnist, to_float

    x = to_float(fashion_mnist("train")[0][:1024])
    model = SimCLR()
    history = fit(model, simclr_loss, (x,), epochs=3, batch_size=128, lr=3e-3, device=device)
    assert history.train[-1] < history.train[0] - 0.2, history.train
    assert model.embed(x[:5].to(device)).shape == (5, 64)
    with pytest.raises(ShapeError, match=r"images of shape \(n, 1, 28, 28\); got \(5, 784\)"):
        model.embed(torch.zeros(5, 784))


def test_an_encoder_of_another_width_than_dim_is_a_clear_error():
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    with pytest.raises(ShapeError, match=r"dim=<its output size>"):  # was a raw matmul error
        SimCLR(encoder, dim=64)(torch.rand(4, 1, 28, 28))
    assert SimCLR(encoder, dim=10)(torch.rand(4, 1, 28, 28)).shape == (4, 32)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_sentence_transformers(mnrl, value_and_grads, temperature):
    """NT-Xent against sentence-transformers' MultipleNegativesRankingLoss, value and gradients, in float64.

    No single MNRL call is NT-Xent: with queries z1 and docs z2, ``directions=("query_to_doc", "query_to_query")``
    and ``partition_mode="joint"``, anchor z1[i] picks z2[i] among all of z2 and the other N - 1 rows of z1 --
    exactly NT-Xent's 2N - 1 candidates for the views of z1. Swapping the columns gives the anchors of z2, so
    NT-Xent (the mean over all 2N anchors) = (MNRL(z1, z2) + MNRL(z2, z1)) / 2, to rounding. MNRL's default
    (``query_to_doc`` only: no same-side negatives) is a different loss, checked to differ.
    """
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z2 = 3.0 * (z1 + torch.randn(6, 5, generator=g, dtype=torch.float64))  # partners close; other norms: cosine needed

    def both_ways(a, b, directions=("query_to_doc", "query_to_query")):
        """(MNRL(a, b) + MNRL(b, a)) / 2, scale 1 / temperature, one joint softmax over ``directions``."""
        one_way = lambda x, y: mnrl([x, y], 1 / temperature, directions=directions, partition_mode="joint")
        return 0.5 * (one_way(a, b) + one_way(b, a))

    ours, our_grads = value_and_grads(lambda c: nt_xent(c[0], c[1], temperature), [z1, z2])
    theirs, their_grads = value_and_grads(lambda c: both_ways(c[0], c[1]), [z1, z2])
    assert abs(float(ours) - math.log(11)) > 0.1  # not the uniform-similarity value log(2N - 1)
    assert abs(float(ours) - float(theirs)) < 1e-10, (ours, theirs)
    for mine, ref in zip(our_grads, their_grads):
        assert float(mine.abs().max()) > 1e-3
        assert float((mine - ref).abs().max()) < 1e-10
    default = both_ways(z1, z2, directions=("query_to_doc",))
    assert abs(float(ours) - float(default)) > 1e-3  # the same-side negatives matter: the check can tell
