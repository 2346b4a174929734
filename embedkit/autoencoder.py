"""Autoencoders (Rumelhart, Hinton and Williams 1986): learn a code by reconstructing the input through a bottleneck.

- `DenseAutoencoder`: fully connected encoder and decoder around a code of
  ``code_size`` numbers. With ``hidden=()`` and ``linear=True`` it is the
  linear autoencoder whose optimum, under squared error, spans the same
  subspace as PCA with as many components (Baldi and Hornik 1989); the book
  checks that with `principal_angles`.
- `ConvAutoencoder`: two stride-2 convolutions down to a 7x7 map, a dense code,
  and transposed convolutions back up, for 28x28 single-channel images.
- `reconstruction_loss`: mean squared error per pixel, the loss both train with
  (via `embedkit.train.fit`).

Images are float tensors ``(n, 1, 28, 28)`` (or ``(n, 784)`` for the dense
model); `encode` gives the embedding. Left out: denoising and sparse
autoencoders, and tied weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ShapeError, check_positive
from .images import check_images, check_pixels


def flatten_inputs(x: torch.Tensor, features: int) -> torch.Tensor:
    """A float batch of inputs with ``features`` values each, as ``(n, features)``; a clear error otherwise."""
    if x.ndim < 2 or math.prod(x.shape[1:]) != features:
        raise ShapeError(f"expected a batch of inputs with {features} values each, e.g. (n, {features}) or "
                         f"(n, 1, 28, 28); got shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise TypeError(f"expected float inputs (scale uint8 images with embedkit.images.to_float); got {x.dtype}.")
    return x.reshape(len(x), features)


def check_codes(z: torch.Tensor, code_size: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``z`` itself if it is a batch of float codes ``(n, code_size)`` (of ``dtype``, the model's, when given);
    a clear error otherwise."""
    if z.ndim != 2 or z.shape[1] != code_size:
        raise ShapeError(f"expected codes of shape (n, {code_size}); got {tuple(z.shape)}.")
    if not z.is_floating_point():
        raise TypeError(f"expected float codes, as encode() gives them; got {z.dtype}: convert with z.float().")
    if dtype is not None:
        check_dtype(z, dtype, "codes")
    return z


def check_dtype(x: torch.Tensor, dtype: torch.dtype, what: str = "inputs") -> torch.Tensor:
    """``x`` itself if its dtype is ``dtype`` (the model's weights'); a TypeError that says how to convert otherwise."""
    if x.dtype != dtype:
        how = "x.float()" if dtype == torch.float32 else f"x.to({dtype})"
        raise TypeError(f"expected {str(dtype).removeprefix('torch.')} {what}, as the model's weights; "
                        f"got {x.dtype}: convert with {how}.")
    return x


class DenseAutoencoder(nn.Module):
    """``in_features -> hidden... -> code_size -> ...hidden -> in_features``, ReLU between layers.

    ``linear=True`` drops every non-linearity (the PCA-equivalent model, for any real data);
    otherwise a sigmoid keeps outputs in [0, 1], and inputs must be pixels in [0, 1] (`images.check_pixels`).
    """

    def __init__(self, in_features: int = 784, code_size: int = 16, hidden: tuple[int, ...] = (256,),
                 linear: bool = False) -> None:
        super().__init__()
        check_positive("code_size", code_size), check_positive("in_features", in_features)
        for i, size in enumerate(hidden):
            check_positive(f"hidden[{i}]", size)
        self.in_features, self.code_size, self.linear = in_features, code_size, linear
        sizes = [in_features, *hidden, code_size]
        self.encoder = self._stack(sizes, linear)
        self.decoder = self._stack(sizes[::-1], linear)

    @staticmethod
    def _stack(sizes: list[int], linear: bool) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if not linear and i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code (embedding) of each input: ``(n, code_size)``."""
        x = check_dtype(flatten_inputs(x, self.in_features), self.encoder[0].weight.dtype)
        if not self.linear:  # its sigmoid output can only match pixels in [0, 1]
            check_pixels(x, dtype=None)
        return self.encoder(x)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding of each input: its code, as `encode` gives it (the name every model of inputs uses)."""
        return self.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``(n, in_features)`` from codes."""
        out = self.decoder(check_codes(z, self.code_size, self.decoder[0].weight.dtype))
        return out if self.linear else torch.sigmoid(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` in its own shape."""
        return self.decode(self.encode(x)).reshape(x.shape)


class ConvAutoencoder(nn.Module):
    """28x28 images: conv 1->c (14x14) -> conv c->2c (7x7) -> dense code; the mirror image back up."""

    def __init__(self, code_size: int = 16, channels: int = 16) -> None:
        super().__init__()
        check_positive("code_size", code_size), check_positive("channels", channels)
        self.code_size, c = code_size, channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(2 * c * 7 * 7, code_size))
        self.decoder = nn.Sequential(
            nn.Linear(code_size, 2 * c * 7 * 7), nn.ReLU(),
            nn.Unflatten(1, (2 * c, 7, 7)),
            nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 3, stride=2, padding=1, output_padding=1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each image ``(n, 1, 28, 28)``: ``(n, code_size)``."""
        return self.encoder(check_images(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The embedding of each image: its code, as `encode` gives it."""
        return self.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(n, 1, 28, 28)`` in [0, 1] from codes."""
        return torch.sigmoid(self.decoder(check_codes(z, self.code_size, self.decoder[0].weight.dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x``."""
        return self.decode(self.encode(x))


def reconstruction_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per pixel between ``x`` and ``model(x)``: the loss to pass to
    `embedkit.train.fit`."""
    return (model(x) - x).pow(2).mean()


def _as_basis(name: str, m: torch.Tensor) -> torch.Tensor:
    """``m`` as a float64 matrix on the CPU (MPS has no float64) if it is finite with independent columns (a basis
    of the subspace it spans); a ValueError otherwise."""
    m = m.detach().cpu()
    if not bool(torch.isfinite(m).all()):
        raise ValueError(f"{name} holds NaN or infinite values; principal angles need finite matrices.")
    rank = int(torch.linalg.matrix_rank(m if m.is_floating_point() else m.double()))  # tolerance of m's precision
    if rank < m.shape[1]:
        raise ValueError(f"the {m.shape[1]} columns of {name} {tuple(m.shape)} are linearly dependent (rank {rank}); "
                         "give a basis of the subspace: drop the dependent columns, or keep the left singular vectors "
                         "of its non-zero singular values.")
    return m.double()


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The principal angles (radians, ascending, on the CPU) between the column spaces
    of ``a`` and ``b`` (both ``(d, k)``).

    Zero angles mean the two sets of columns span the same subspace, whatever
    basis each uses (Björck and Golub 1973). Each matrix needs independent columns:
    with a dependent one, QR would pick a direction of its own, and the angles to it
    would mean nothing.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ShapeError("expected two (d, k) matrices with the same d; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}.")
    a, b = _as_basis("a", a), _as_basis("b", b)
    qa, _ = torch.linalg.qr(a)
    qb, _ = torch.linalg.qr(b)
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(cosines).sort().values
