"""VAE: the closed-form KL by hand and against Monte Carlo, the ELBO improves in training, sampling and interpolation."""

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
    with pytest.raises(ShapeError, match="inputs with 784 values each"):
        model.embed(torch.rand(2, 10))
    with pytest.raises(ShapeError, match=r"codes of shape \(n, 2\)"):
        model.decode(torch.rand(2, 3))
    with pytest.raises(ValueError, match="steps must be at least 2"):
        model.interpolate(a, b, steps=1)
