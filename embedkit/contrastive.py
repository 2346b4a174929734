"""Contrastive self-supervised learning for images: SimCLR (Chen et al. 2020), small enough for a CPU.

- `augment` makes a random view of each image in a batch, all in torch on the
  batch's device: a random resized crop (scale 0.4-1, aspect 3/4-4/3) and
  horizontal flip by one ``affine_grid``/``grid_sample``, then brightness and
  contrast jitter and a random erased rectangle.
- `nt_xent` is the normalised temperature-scaled cross-entropy: each view must
  pick its partner (the other view of the same image) among the 2N - 1 other
  views of the batch, by cosine similarity divided by a temperature.
- `SimCLR` is an encoder (a small CNN by default; any module that maps images
  to vectors) plus the projection MLP the loss is computed on. `embed` returns
  the encoder's output, the representation that is kept (the paper's finding:
  it transfers better than the projection).
- `simclr_loss` is the ``loss_fn`` for `embedkit.train.fit`.

Left out: colour distortion (the images are grey), Gaussian blur, LARS, large
batches and long training: the chapter trains for seconds, not days.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .errors import ShapeError, check_finite, check_positive
from .images import check_images


def augment(x: torch.Tensor, generator: torch.Generator | None = None, min_scale: float = 0.4) -> torch.Tensor:
    """One random view of each image of a (N, 1, 28, 28) float batch in [0, 1].

    ``min_scale`` is the smallest share of the area a crop keeps: ValueError outside (0, 1]."""
    check_images(x)
    if not 0 < min_scale <= 1:  # a Python number: no device sync; a negative share gave NaN views
        raise ValueError(f"min_scale must lie in (0, 1] (the smallest share of the image a crop keeps); "
                         f"got {min_scale}.")
    n, device = len(x), x.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=device)

    scale = min_scale + (1 - min_scale) * rand(n)  # share of the area kept
    log_ratio = (rand(n) * 2 - 1) * math.log(4 / 3)
    sx = torch.sqrt(scale * torch.exp(log_ratio)).clamp(max=1)
    sy = torch.sqrt(scale / torch.exp(log_ratio)).clamp(max=1)
    flip = torch.where(rand(n) < 0.5, -1.0, 1.0)
    tx, ty = (rand(n) * 2 - 1) * (1 - sx), (rand(n) * 2 - 1) * (1 - sy)  # the crop stays inside the image
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    view = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    brightness, contrast = (rand(n) - 0.5) * 0.4, 0.6 + 0.8 * rand(n)  # +-0.2 and x0.6..1.4
    mean = view.mean(dim=(1, 2, 3), keepdim=True)
    view = ((view - mean) * contrast[:, None, None, None] + mean + brightness[:, None, None, None]).clamp(0, 1)
    h, w = x.shape[2:]  # erase one rectangle of up to a third of each side
    eh, ew = (rand(n) * h / 3).long(), (rand(n) * w / 3).long()
    top, left = (rand(n) * (h - eh)).long(), (rand(n) * (w - ew)).long()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    inside = (((rows[None, :] >= top[:, None]) & (rows[None, :] < (top + eh)[:, None]))[:, :, None]
              & ((cols[None, :] >= left[:, None]) & (cols[None, :] < (left + ew)[:, None]))[:, None, :])
    return view.masked_fill(inside[:, None], 0.0)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor,
            temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's loss for two (N, d) batches of projections, row i of each from the same
    image."""
    if z1.shape != z2.shape or z1.ndim != 2 or z1.shape[1] == 0:
        raise ValueError("z1 and z2 must be (N, d) of the same shape, d >= 1; "
                         f"got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    if len(z1) < 2:
        raise ValueError(
            "nt_xent needs at least 2 images per batch: the others are the negatives.")
    check_finite("temperature", temperature,
                 hint=" SimCLR uses 0.5 (small batches) down to 0.1.")
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))  # a view is not its own candidate
    partner = torch.cat([torch.arange(n, 2 * n, device=z.device),
                         torch.arange(n, device=z.device)])
    return F.cross_entropy(logits, partner)


class SmallConvEncoder(nn.Module):
    """Three strided 3x3 conv layers with batch norm and ReLU, then global average pooling: (N, 1, 28, 28) -> (N, dim)."""

    def __init__(self, dim: int = 64, width: int = 16) -> None:
        super().__init__()
        check_positive("dim", dim), check_positive("width", width)
        layers, inputs = [], 1
        for outputs in (width, 2 * width, dim):
            layers += [nn.Conv2d(inputs, outputs, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()]
            inputs = outputs
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class SimCLR(nn.Module):
    """An image encoder and the projection head (Linear-ReLU-Linear) that the contrastive loss sees."""

    def __init__(self, encoder: nn.Module | None = None, dim: int = 64, projection: int = 32) -> None:
        super().__init__()
        check_positive("dim", dim), check_positive("projection", projection)
        self.encoder = encoder or SmallConvEncoder(dim)
        self.projection = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, projection))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The representation kept after training: the encoder's output."""
        check_images(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        if h.ndim != 2 or h.shape[1] != self.projection[0].in_features:
            raise ShapeError(f"the encoder gives vectors of shape {tuple(h.shape[1:])}, the projection takes "
                             f"{self.projection[0].in_features} numbers: pass SimCLR(encoder, dim=<its output size>).")
        return self.projection(h)


def simclr_loss(model: SimCLR, x: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Two random views of each image, projected, scored by `nt_xent` (a ``loss_fn`` for `embedkit.train.fit`)."""
    return nt_xent(model(augment(x)), model(augment(x)), temperature)
