"""Convolutional networks as feature extractors: four landmark designs, scaled down for 28x28 grey images.

Each class keeps the idea that made its namesake famous, with fewer channels:

- `AlexNet` (Krizhevsky et al. 2012): a large early kernel, ReLU, max-pooling,
  five convolutions, and a dense head with dropout;
- `VGG` (Simonyan and Zisserman 2015): only 3x3 convolutions, stacked in blocks
  (2, 2, 3 convolutions, the start of VGG16's 2-2-3-3-3 pattern), each block
  ending in a 2x2 max-pool, channels doubling from block to block;
- `ResNet` (He et al. 2016): residual basic blocks with batch norm, identity
  shortcuts, and 1x1 projection shortcuts where the shape changes;
- `Inception` (Szegedy et al. 2015): blocks of parallel 1x1, 3x3, 5x5 and
  pooling branches (with 1x1 reductions) whose outputs are concatenated.

Every model takes float images ``(n, 1, 28, 28)`` in [0, 1] (it normalises them
itself), returns class logits, and has `embed`, the penultimate-layer vector:
the embedding. `classification_loss` is the loss for `embedkit.train.fit`;
`count_flops` counts the multiply-adds of one forward pass. `load_pretrained`
reads the weights that ``scripts/train_cnns.py`` trained, shipped in
``embedkit/pretrained/`` (package data) with a sha256 check.

Left out: data augmentation, the original input sizes (224x224 colour
images), local response normalisation, Inception's auxiliary classifiers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import json
from pathlib import Path

from .data import verify_file
from .errors import UnknownNameError, check_positive, check_whole
from .images import check_images

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics
SEEN_CLASSES = [0, 1, 2, 3, 4]  # the "seen" models never saw sandals, shirts, sneakers, bags or ankle boots

# sha256 of the weights that scripts/train_cnns.py writes (it prints these lines)
PRETRAINED: dict[str, str] = {
    "alexnet-all.safetensors": "b69a84396e055934db1e6b98a09f2d1ba967dc2bc74206fd85a4f8ac845e5d23",
    "alexnet-seen.safetensors": "088a6974d85a41b519b03b1cb695d9b5e8af48e11e4f49839e7e00d9ff95e36e",
    "vgg-all.safetensors": "817e6ef0c37104a9060e7edf2c864e7781265a44f3bcd5d615e05c46b3c6b433",
    "vgg-seen.safetensors": "b10fb760a0c7021441ea8b270be33f9da2abe4bad773812e1bc3b49c5dc92e06",
    "resnet-all.safetensors": "85c6960983da5ffed4db30899e35d55a609472c39ad5a360454b583d94902496",
    "resnet-seen.safetensors": "671dc51225e712209e658847dfa3d63deafd3f48ef4cb1ec0badec9c64088e9b",
    "inception-all.safetensors": "53318bea530b9a8374f6a5e7fa1df650bc0bf478938d55579c0143d6d6dca017",
    "inception-seen.safetensors": "53e232ddc9bfc8ec902570dba33ec9e8b1e7e0d8831e1157dba6b1745e99b5c9",
}


class ImageModel(nn.Module):
    """Input checks, normalisation, and the split into `features` (-> embedding) and `head` (-> logits)."""

    features: nn.Module
    head: nn.Module

    def __init__(self, **sizes: int) -> None:
        """Check the sizes a model is built from (``classes=10, width=8``...): whole numbers of at least 1."""
        super().__init__()
        for name, size in sizes.items():
            check_positive(name, size)

    def _channels_last(self) -> None:
        """Lay the convolution weights out channels-last (NHWC), as the subclasses do once built: oneDNN's CPU
        kernels run faster on these small images that way. The values, and so the model, do not change."""
        self.to(memory_format=torch.channels_last)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Check that ``x`` is a float batch (n, 1, 28, 28) of pixels in [0, 1], then standardise it as the network expects."""
        return ((check_images(x) - MEAN) / STD).contiguous(memory_format=torch.channels_last)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate-layer vector of each image: (n, embedding_dim)."""
        return self.features(self.normalise(x))

    def _cut(self) -> tuple[int, bool]:
        """Where `embed_earlier` cuts `features`, and whether it then averages over
        positions (else flattens)."""
        layers = list(self.features)
        if any(isinstance(m, nn.AdaptiveAvgPool2d) for m in layers):
            return len(layers) - 3, True
        return next(i for i, m in enumerate(layers) if isinstance(m, nn.Flatten)), False

    def embed_earlier(self, x: torch.Tensor) -> torch.Tensor:
        """A less specialised embedding: the convolutional features before the dense
        layers (AlexNet, VGG; flattened) or before the last block (ResNet, Inception;
        averaged over positions)."""
        cut, average = self._cut()
        h = self.features[:cut](self.normalise(x))
        return h.mean(dim=(2, 3)) if average else h.flatten(1)

    def embed_both(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`embed` and `embed_earlier` of each image in one pass: the layers they share run once."""
        cut, average = self._cut()
        h = self.features[:cut](self.normalise(x))
        return self.features[cut:](h), (h.mean(dim=(2, 3)) if average else h.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, (n, classes)."""
        return self.head(self.embed(x))


class AlexNet(ImageModel):
    """5x5 then 3x3 convolutions with max-pooling, then dense layers with dropout; embedding: the last hidden layer."""

    def __init__(self, classes: int = 10, width: int = 16, embedding_dim: int = 128) -> None:
        super().__init__(classes=classes, width=width, embedding_dim=embedding_dim)
        c = width
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 14, the large early kernel
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
            nn.Conv2d(2 * c, 3 * c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(3 * c, 3 * c, 3, padding=1), nn.ReLU(),
            nn.Conv2d(3 * c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7 -> 3
            nn.Flatten(), nn.Dropout(0.5), nn.Linear(2 * c * 9, 256), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(256, embedding_dim), nn.ReLU())
        self.head = nn.Linear(embedding_dim, classes)
        self._channels_last()


class VGG(ImageModel):
    """Blocks of 3x3 convolutions (2, 2, 3 of them) each closed by a 2x2 max-pool; two dense layers with dropout."""

    def __init__(self, classes: int = 10, width: int = 8, embedding_dim: int = 128) -> None:
        super().__init__(classes=classes, width=width, embedding_dim=embedding_dim)
        layers: list[nn.Module] = []
        channels = 1
        for block, (convs, out) in enumerate([(2, width), (2, 2 * width), (3, 4 * width)]):
            for _ in range(convs):
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU()]
                channels = out
            layers.append(nn.MaxPool2d(2))  # 28 -> 14 -> 7 -> 3
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 9, 256), nn.ReLU(), nn.Dropout(0.5),
                                      nn.Linear(256, embedding_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(embedding_dim, classes))
        self._channels_last()


class BasicBlock(nn.Module):
    """Two 3x3 conv + batch-norm layers; the input is added back (through a 1x1 projection if the shape changes)."""

    def __init__(self, inputs: int, outputs: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Identity() if stride == 1 and inputs == outputs else nn.Sequential(
            nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(ImageModel):
    """A 3x3 stem, three stages of two basic blocks (8, 16, 32 channels; stride 2 between), global average pooling."""

    def __init__(self, classes: int = 10, width: int = 8, blocks_per_stage: int = 2) -> None:
        super().__init__(classes=classes, width=width, blocks_per_stage=blocks_per_stage)
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        channels = width
        for stage, out in enumerate([width, 2 * width, 4 * width]):
            for b in range(blocks_per_stage):
                layers.append(BasicBlock(channels, out, stride=2 if stage > 0 and b == 0 else 1))
                channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, classes)
        self._channels_last()


class InceptionBlock(nn.Module):
    """Four branches on the same input, concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1."""

    def __init__(self, inputs: int, b1: int, b3: tuple[int, int], b5: tuple[int, int], pool: int) -> None:
        super().__init__()
        conv = lambda i, o, k: nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.branch1 = conv(inputs, b1, 1)
        self.branch3 = nn.Sequential(conv(inputs, b3[0], 1), conv(b3[0], b3[1], 3))
        self.branch5 = nn.Sequential(conv(inputs, b5[0], 1), conv(b5[0], b5[1], 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(inputs, pool, 1))
        self.outputs = b1 + b3[1] + b5[1] + pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x),
                          self.branch_pool(x)], dim=1)


class Inception(ImageModel):
    """A 3x3 stem, two Inception blocks, a max-pool, two more, global average pooling."""

    def __init__(self, classes: int = 10, width: int = 8) -> None:
        super().__init__(classes=classes)
        check_whole("width (the 5x5 branches have width // 4 channels)", width, 4)
        w = width
        a = InceptionBlock(2 * w, w, (w, 2 * w), (w // 4, w // 2), w // 2)  # 28x28 -> 14x14 after the stem pool
        b = InceptionBlock(a.outputs, 2 * w, (w, 3 * w), (w // 4, w), w)
        c = InceptionBlock(b.outputs, 3 * w, (2 * w, 4 * w), (w // 2, w), w)
        d = InceptionBlock(c.outputs, 3 * w, (2 * w, 4 * w), (w // 2, 2 * w), 2 * w)
        self.features = nn.Sequential(
            nn.Conv2d(1, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),
            a, b, nn.MaxPool2d(2), c, d, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(d.outputs, classes)
        self._channels_last()


ARCHITECTURES: dict[str, type[ImageModel]] = {"AlexNet": AlexNet, "VGG": VGG, "ResNet": ResNet, "Inception": Inception}


def weights_folder() -> Path:
    """Where the shipped weights live: ``embedkit/pretrained``, package data installed with embedkit."""
    return Path(__file__).resolve().parent / "pretrained"


def load_pretrained(name: str, kind: str = "all") -> tuple[ImageModel, dict]:
    """The shipped model ``name`` (a key of `ARCHITECTURES`) trained on ``kind`` = ``'all'`` classes or the
    ``'seen'`` ones, in evaluation mode, and its training metadata (settings, seconds, loss curves)."""
    from .weights import load_safetensors

    if name not in ARCHITECTURES or kind not in ("all", "seen"):
        raise UnknownNameError(f"no pretrained {name!r}/{kind!r}; choose from {list(ARCHITECTURES)} and 'all' or 'seen'.")
    filename = f"{name.lower()}-{kind}.safetensors"
    path = verify_file(weights_folder() / filename, PRETRAINED.get(filename, "unknown"),
                       "Re-create the weights with `python scripts/train_cnns.py`, or reinstall embedkit (its package data holds them).")
    state, metadata = load_safetensors(path, with_metadata=True)
    model = ARCHITECTURES[name](classes=10)
    model.load_state_dict(state)
    metadata = {k: json.loads(v) if v[:1] in "[{" else v for k, v in metadata.items()}
    return model.eval(), metadata


def classification_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the model's logits: the loss to pass to `embedkit.train.fit` with ``(images, labels)``."""
    return F.cross_entropy(model(x), y)


def count_flops(model: nn.Module, shape: tuple[int, ...] = (1, 1, 28, 28)) -> int:
    """Multiply-adds of one forward pass on one input of ``shape``, counting convolutions (also transposed ones,
    as in an autoencoder's decoder) and dense layers."""
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * per_output
        elif isinstance(module, nn.ConvTranspose2d):  # every input number meets a whole kernel of each output map
            per_input = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0][0].numel() * per_input
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    layers = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, layers)]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape, device=next(model.parameters()).device))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total
