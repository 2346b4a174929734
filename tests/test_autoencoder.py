"""Autoencoders: principal angles by hand, the linear autoencoder spans PCA's subspace, shapes and bad input."""

import math

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA

from embedkit import autoencoder as ae
from embedkit import train
from embedkit.errors import ShapeError


def test_principal_angles_by_hand():
    x_axis = torch.tensor([[1.0], [0.0], [0.0]])
    diagonal = torch.tensor([[1.0], [1.0], [0.0]])
    assert ae.principal_angles(x_axis, diagonal).tolist() == pytest.approx([math.pi / 4])
    plane = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    same_plane_other_basis = torch.tensor([[2.0, 1.0], [1.0, -3.0], [0.0, 0.0]])
    assert ae.principal_angles(plane, same_plane_other_basis).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)
    with pytest.raises(ShapeError, match=r"two \(d, k\) matrices with the same d"):
        ae.principal_angles(plane, torch.ones(4, 2))


def test_linear_autoencoder_spans_the_pca_subspace():
    """Baldi and Hornik (1989): at the optimum of squared error, decoder columns span the top-k principal subspace."""
    x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    k = 4
    reference = SklearnPCA(k).fit(x.numpy())
    torch.manual_seed(0)
    model = ae.DenseAutoencoder(64, k, hidden=(), linear=True)
    train.fit(model, ae.reconstruction_loss, (x,), epochs=150, batch_size=32, lr=1e-2, cosine=True, device="cpu")
    angles = ae.principal_angles(model.decoder[0].weight.detach(), torch.tensor(reference.components_.T))
    assert float(angles.max()) < math.radians(1.0), angles
    pca_error = ((reference.inverse_transform(reference.transform(x.numpy())) - x.numpy()) ** 2).mean()
    assert train.evaluate(model, ae.reconstruction_loss, (x,)) == pytest.approx(pca_error, rel=1e-3)
    # a random decoder is far from it: the check can fail
    random = ae.DenseAutoencoder(64, k, hidden=(), linear=True)
    assert float(ae.principal_angles(random.decoder[0].weight.detach(), torch.tensor(reference.components_.T)).max()) > 0.5


def test_nonlinear_models_learn_and_keep_shapes():
    x = torch.tensor(load_digits().data[:512] / 16.0, dtype=torch.float32)
    torch.manual_seed(0)
    dense = ae.DenseAutoencoder(64, 8, hidden=(32,))
    history = train.fit(dense, ae.reconstruction_loss, (x,), epochs=20, batch_size=64, lr=3e-3, device="cpu")
    assert history.train[-1] < 0.5 * history.train[0]
    assert dense.encode(x).shape == (512, 8) and dense(x).shape == x.shape
    images = torch.rand(5, 1, 28, 28)
    conv = ae.ConvAutoencoder(code_size=6, channels=4)
    assert conv.encode(images).shape == (5, 6) and conv(images).shape == images.shape
    with torch.no_grad():
        out = conv(images)
    assert 0 <= float(out.min()) and float(out.max()) <= 1


def test_bad_input():
    dense = ae.DenseAutoencoder(784, 4)
    with pytest.raises(ShapeError, match="784 values"):
        dense.encode(torch.rand(3, 1, 27, 27))
    with pytest.raises(TypeError, match="to_float"):
        dense.encode(torch.zeros(3, 784, dtype=torch.uint8))
    with pytest.raises(ShapeError, match=r"\(n, 4\)"):
        dense.decode(torch.rand(3, 5))
    with pytest.raises(ShapeError, match="unsqueeze"):
        ae.ConvAutoencoder(4).encode(torch.rand(3, 28, 28))
    with pytest.raises(ShapeError, match="grey images: one channel"):
        ae.ConvAutoencoder(4).encode(torch.rand(3, 3, 28, 28))
    with pytest.raises(ValueError, match="code_size must be a whole number of at least 1"):
        ae.DenseAutoencoder(784, 0)


def test_wrong_dtypes_and_fractional_sizes_are_clear_errors():
    dense = ae.DenseAutoencoder(784, 4)
    with pytest.raises(TypeError, match=r"expected float32 inputs, as the model's weights; got torch.float64"):
        dense.encode(torch.rand(3, 784, dtype=torch.float64))
    for model in (dense, ae.ConvAutoencoder(4)):
        with pytest.raises(TypeError, match="expected float codes.*got torch.int64"):
            model.decode(torch.ones(3, 4, dtype=torch.long))
        with pytest.raises(TypeError, match="expected float32 codes, as the model's weights; got torch.float64"):
            model.decode(torch.rand(3, 4, dtype=torch.float64))
    double = ae.DenseAutoencoder(784, 4).double()  # a float64 model takes float64 inputs, as before
    assert double(torch.rand(3, 784, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(TypeError, match=r"expected float64 inputs.*x.to\(torch.float64\)"):
        double.encode(torch.rand(3, 784))
    with pytest.raises(ValueError, match="code_size must be a whole number of at least 1; got 2.5"):
        ae.DenseAutoencoder(784, 2.5)
    with pytest.raises(ValueError, match=r"hidden\[0\] must be a whole number of at least 1; got 25.5"):
        ae.DenseAutoencoder(784, 2, hidden=(25.5,))
    with pytest.raises(ValueError, match="channels must be a whole number of at least 1; got '16'"):
        ae.ConvAutoencoder(4, channels="16")
    with pytest.raises(ValueError, match="code_size must be a whole number of at least 1"):
        ae.ConvAutoencoder(0)
