"""Variational autoencoders (Kingma and Welling 2013): an autoencoder whose code is a probability distribution.

Pixels in [0, 1] are treated as Bernoulli probabilities (the usual relaxation of binary
images). The encoder maps an image x to a diagonal Gaussian q(z|x) = N(mu, diag(exp(logvar)));
a code is drawn as z = mu + exp(logvar / 2) * eps with eps ~ N(0, I) (the
reparameterisation trick: the noise is an input, so gradients flow through mu
and logvar). The decoder gives Bernoulli pixel probabilities p(x|z). Training
maximises the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)),

estimated with one sample of z; the KL term has a closed form (`gaussian_kl`),
checked in the tests against a Monte-Carlo estimate (`monte_carlo_kl`). Because
the codes are pushed towards N(0, I), decoding random normal vectors gives new
images (`VAE.sample`), and straight lines between codes give smooth
interpolations (`VAE.interpolate`). The embedding of an image is its mean mu.

Left out: convolutional VAEs, beta-VAEs, importance-weighted bounds, and
likelihoods other than Bernoulli.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .autoencoder import check_codes, flatten_inputs
from .errors import check_positive, check_whole
from .images import check_pixels


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per row, in closed form:
    0.5 * sum(exp(logvar) + mu^2 - 1 - logvar)."""
    return 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)


def monte_carlo_kl(mu: torch.Tensor, logvar: torch.Tensor, samples: int = 10_000,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """The same KL estimated by sampling: the mean of log q(z) - log p(z) over ``samples`` draws z ~ q, per row.

    Raises ValueError if ``samples`` is not a whole number of at least 1."""
    check_positive("samples", samples)  # 0 draws would give a NaN mean
    where = generator.device if generator is not None else mu.device  # draw where the generator lives
    eps = torch.randn((samples, *mu.shape), generator=generator, dtype=mu.dtype, device=where).to(mu.device)
    z = mu + (0.5 * logvar).exp() * eps
    log_q = -0.5 * (eps.pow(2) + logvar + math.log(2 * math.pi)).sum(-1)
    log_p = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    return (log_q - log_p).mean(0)


class VAE(nn.Module):
    """Dense VAE: ``in_features -> hidden -> (mu, logvar) of size code_size``; ``code_size -> hidden -> in_features``."""

    def __init__(self, in_features: int = 784, code_size: int = 2, hidden: int = 256) -> None:
        super().__init__()
        for name, size in (("in_features", in_features), ("code_size", code_size), ("hidden", hidden)):
            check_positive(name, size)
        self.in_features, self.code_size = in_features, code_size
        self.body = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
        self.to_mu = nn.Linear(hidden, code_size)
        self.to_logvar = nn.Linear(hidden, code_size)
        self.decoder = nn.Sequential(nn.Linear(code_size, hidden), nn.ReLU(), nn.Linear(hidden, in_features))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each ``(n, code_size)``; pixels in [0, 1] (Bernoulli likelihood)."""
        h = self.body(check_pixels(flatten_inputs(x, self.in_features)))
        return self.to_mu(h), self.to_logvar(h)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding of each input: the mean of q(z|x)."""
        return self.encode(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits of every pixel, ``(n, in_features)``."""
        return self.decoder(check_codes(z, self.code_size, self.decoder[0].weight.dtype))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (the mean image) for codes ``z``."""
        return torch.sigmoid(self.decode_logits(z))

    def elbo(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example reconstruction log-likelihood E_q[log p(x|z)] (one sample) and
        KL; ELBO = first - second."""
        mu, logvar = self.encode(x)
        # the reparameterisation trick
        z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        target = flatten_inputs(x, self.in_features)
        log_lik = -F.binary_cross_entropy_with_logits(
            self.decode_logits(z), target, reduction="none").sum(-1)
        return log_lik, gaussian_kl(mu, logvar)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new images: decode z ~ N(0, I). Shape ``(n, in_features)``."""
        n = check_positive("n (the number of images)", n)
        device = self.to_mu.weight.device
        where = generator.device if generator is not None else "cpu"  # draw where the generator lives
        z = torch.randn(n, self.code_size, generator=generator, device=where).to(device)
        return self.decode(z)

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode ``steps`` codes on the straight line from the mean code of ``a`` to that of ``b`` (single inputs)."""
        check_whole("steps", steps, 2)
        device = self.to_mu.weight.device  # the inputs may come from the CPU while the model is on a GPU
        za, zb = self.embed(a.reshape(1, -1).to(device)), self.embed(b.reshape(1, -1).to(device))
        t = torch.linspace(0, 1, steps, device=za.device).unsqueeze(1)
        return self.decode((1 - t) * za + t * zb)


def negative_elbo(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Mean negative ELBO per example (nats): the loss to pass to `embedkit.train.fit`."""
    log_lik, kl = model.elbo(x)
    return (kl - log_lik).mean()
