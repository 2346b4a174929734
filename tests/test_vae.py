"""VAE: the closed-form KL by hand, against Monte Carlo and against torch.distributions; the ELBO terms against
torch.distributions; the ELBO improves in training; sampling and interpolation."""

import math

import pytest
import torch

from embedkit import images, train
from embedkit import vae as V
from embedkit.errors import ShapeError


def test_kl_by_hand():
    zero = torch.zeros(1, 3)
    assert V.gaussian_kl(zero, zero).tolist() == [0.0]  # q equals the prior
    # one dimension, mu = 1, variance 1: KL = 0.5 * (1 + 1 - 1 - 0) = 0.5
    assert V.gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]])).tolist() == [0.5]
    # variance e^2, mu = 0: 0.5 * (e^2 - 1 - 2)
    assert float(V.gaussian_kl(torch.tensor([[0.0]]), torch.tensor([[2.0]]))) == pytest.approx(0.5 * (math.e**2 - 3))


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(6, 4, generator=g, dtype=torch.float64)
    logvar = 0.5 * torch.randn(6, 4, generator=g, dtype=torch.float64)
    exact = V.gaussian_kl(mu, logvar)
    samples = 200_000
    estimate = V.monte_carlo_kl(mu, logvar, samples=samples, generator=g)
    # each sample's log q - log p has variance sum_j (1 - s_j)^2 / 2 + mu_j^2 s_j, with s = sigma^2 (eps ~ N(0, 1))
    s = logvar.exp()
    standard_error = (((1 - s) ** 2 / 2 + mu**2 * s).sum(1) / samples).sqrt()
    assert ((estimate - exact).abs() < 4 * standard_error).all(), (estimate - exact, standard_error)
    assert not ((1.01 * exact - estimate).abs() < 4 * standard_error).all()  # a 1% error would be caught


def test_monte_carlo_kl_needs_at_least_one_sample():
    """samples=0 used to return a NaN estimate (the mean of no draws); -1 a negative-dimension error."""
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="samples must be a whole number of at least 1"):
            V.monte_carlo_kl(torch.zeros(2, 2), torch.zeros(2, 2), samples=bad)
    assert V.monte_carlo_kl(torch.zeros(2, 2), torch.zeros(2, 2), samples=1).tolist() == [0.0, 0.0]


def test_elbo_improves_during_training():
    x, y = images.fashion_mnist("test")
    data = images.to_float(x[images.stratified_subset(y, 100, seed=0)])
    torch.manual_seed(0)
    model = V.VAE(784, code_size=4, hidden=64)
    before = train.evaluate(model, V.negative_elbo, (data,))
    history = train.fit(model, V.negative_elbo, (data,), epochs=8, batch_size=64, lr=3e-3, device="cpu")
    after = train.evaluate(model, V.negative_elbo, (data,))
    assert after < before - 100  # nats per image: the bound rises a lot from a random decoder
    assert history.train[-1] < history.train[0]
    log_lik, kl = model.elbo(data)
    assert (kl >= 0).all() and (log_lik <= 0).all()
    # A reference value: the best decoder that ignores z outputs the mean image, with KL = 0; its negative
    # ELBO is the Bernoulli log-loss of the mean image. A VAE that uses its code must beat it.
    flat = data.reshape(len(data), -1)
    mean_image = flat.mean(0).clamp(1e-6, 1 - 1e-6)
    ignores_z = float(torch.nn.functional.binary_cross_entropy(mean_image.expand_as(flat), flat, reduction="sum")) / len(flat)
    assert after < ignores_z - 20, (after, ignores_z)
    # ... and its reconstructions depend on z: an image's own code rebuilds it better than another image's code.
    with torch.no_grad():
        own = model.decode(model.embed(data))
        other = model.decode(model.embed(data.roll(len(data) // 2, dims=0)))
    own_error, other_error = float(((own - flat) ** 2).mean()), float(((other - flat) ** 2).mean())
    assert own_error < 0.8 * other_error, (own_error, other_error)


def test_sampling_and_interpolation():
    torch.manual_seed(0)
    model = V.VAE(784, code_size=2, hidden=16)
    new = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert new.shape == (5, 784) and float(new.min()) >= 0 and float(new.max()) <= 1
    a, b = torch.rand(1, 1, 28, 28), torch.rand(1, 1, 28, 28)
    path = model.interpolate(a, b, steps=5)
    assert path.shape == (5, 784)
    with torch.no_grad():
        assert torch.allclose(path[0], model.decode(model.embed(a))[0], atol=1e-6)
        assert torch.allclose(path[-1], model.decode(model.embed(b))[0], atol=1e-6)
        middle = model.decode((model.embed(a) + model.embed(b)) / 2)[0]  # a straight line in code space
        assert torch.allclose(path[2], middle, atol=1e-6)
    with pytest.raises(ShapeError, match="inputs with 784 values each"):
        model.embed(torch.rand(2, 10))
    with pytest.raises(ShapeError, match=r"codes of shape \(n, 2\)"):
        model.decode(torch.rand(2, 3))
    with pytest.raises(ValueError, match="steps must be a whole number of at least 2"):
        model.interpolate(a, b, steps=1)


def test_closed_form_kl_matches_torch_distributions():
    """`gaussian_kl` against torch.distributions' closed-form Normal-Normal KL, summed over the code, in float64,
    on log-variances from -30 to 30 (variances 1e-13 to 1e13) and near 0 (where KL ~ logvar^2 / 4 suffers
    cancellation) with means up to 1e3."""
    from torch.distributions import Normal, kl_divergence

    g = torch.Generator().manual_seed(0)
    scales = 10 ** torch.arange(-3, 4.0).repeat(3)[:20, None]  # means from 1e-3 to 1e3
    mu = torch.cat([torch.randn(20, 5, generator=g, dtype=torch.float64) * scales,
                    torch.zeros(2, 5, dtype=torch.float64)])
    logvar = torch.cat([60 * torch.rand(10, 5, generator=g, dtype=torch.float64) - 30,
                        1e-4 * torch.randn(10, 5, generator=g, dtype=torch.float64),
                        torch.tensor([[-30.0, -10.0, 0.0, 10.0, 30.0], [1e-8, -1e-8, 0.0, 1e-3, -1e-3]],
                                     dtype=torch.float64)])
    ours = V.gaussian_kl(mu, logvar)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert ours.shape == (22,) and ours.dtype == torch.float64
    assert float(reference.max()) > 1e12 and float(reference.min()) < 1e-6  # the range is really covered
    torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("binary", [True, False])
def test_elbo_terms_match_torch_distributions(binary, monkeypatch):
    """`VAE.elbo` with the noise fixed: its reconstruction term against torch.distributions'
    Bernoulli(logits).log_prob summed over pixels (and against x * l - softplus(l) in float64), its KL against
    kl_divergence of the Normals, and `negative_elbo` = mean(KL - log-likelihood). Binary pixels, and pixels in
    [0, 1] (the module's relaxation; Bernoulli then needs ``validate_args=False``)."""
    from torch.distributions import Bernoulli, Normal, kl_divergence

    torch.manual_seed(0)
    model = V.VAE(784, code_size=3, hidden=32)
    x = torch.rand(5, 1, 28, 28)
    if binary:
        x = torch.bernoulli(x)
    eps = torch.randn(5, 3, dtype=torch.float32)
    monkeypatch.setattr(V.torch, "randn_like", lambda t: eps.clone())  # elbo's one draw of the noise
    with torch.no_grad():
        log_lik, kl = model.elbo(x)
        loss = V.negative_elbo(model, x)
        mu, logvar = model.encode(x)
        std = (0.5 * logvar).exp()
        logits = model.decode_logits(mu + std * eps)  # the decoder sees z = mu + sigma * eps
        flat = x.reshape(5, 784)
        reference = Bernoulli(logits=logits, validate_args=binary).log_prob(flat).sum(-1)
        by_formula = (flat.double() * logits.double() - torch.nn.functional.softplus(logits.double())).sum(-1)
        reference_kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(-1)
    assert log_lik.shape == kl.shape == (5,) and float(log_lik.max()) < -100  # a random decoder: far from 0
    torch.testing.assert_close(log_lik, reference, rtol=0, atol=1e-5)
    torch.testing.assert_close(log_lik.double(), by_formula, rtol=0, atol=1e-3)  # float32 sums of 784 terms
    torch.testing.assert_close(kl, reference_kl, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(loss, (reference_kl - reference).mean(), rtol=0, atol=1e-5)
