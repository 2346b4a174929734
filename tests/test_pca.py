"""PCA: a 2-D example by hand, agreement with scikit-learn in float64 and in the default float32, and bad input."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SklearnPCA

from embedkit.errors import EmptyInputError, ShapeError
from embedkit.pca import PCA


def test_points_on_a_line_by_hand(device):
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], dtype=torch.float64)
    pca = PCA(1, dtype=torch.float64, device=device).fit(x)
    assert pca.components_[0].tolist() == pytest.approx([2**-0.5, 2**-0.5])
    assert pca.explained_variance_ratio_.tolist() == pytest.approx([1.0])
    assert pca.mean_.tolist() == [1.5, 1.5]
    assert torch.allclose(pca.inverse_transform(pca.transform(x)).cpu(), x)


def test_matches_scikit_learn_on_digits(device):
    x = load_digits().data
    reference = SklearnPCA(n_components=20, svd_solver="full").fit(x)
    ours = PCA(20, solver="full", dtype=torch.float64, device=device).fit(x)
    assert np.abs(ours.components_.cpu().numpy() - reference.components_).max() < 1e-5
    assert np.abs(ours.explained_variance_ratio_.cpu().numpy() - reference.explained_variance_ratio_).max() < 1e-10
    assert np.abs(ours.explained_variance_.cpu().numpy() - reference.explained_variance_).max() < 1e-5
    assert np.abs(ours.transform(x).cpu().numpy() - reference.transform(x)).max() < 1e-5
    z = reference.transform(x)
    assert np.abs(ours.inverse_transform(z).cpu().numpy() - reference.inverse_transform(z)).max() < 1e-5


def test_matches_scikit_learn_on_wide_data(device):
    """Fewer samples than features (the QR of the transpose), also when the data are rank-deficient."""
    x = load_digits().data[:40]
    reference = SklearnPCA(n_components=10, svd_solver="full").fit(x)
    ours = PCA(10, solver="full", dtype=torch.float64, device=device).fit(x)
    assert np.abs(ours.components_.cpu().numpy() - reference.components_).max() < 1e-5
    assert np.abs(ours.transform(x).cpu().numpy() - reference.transform(x)).max() < 1e-5
    low_rank = np.random.default_rng(0).normal(size=(20, 3)) @ np.random.default_rng(1).normal(size=(3, 50))
    ours = PCA(5, solver="full", dtype=torch.float64, device=device).fit(low_rank)  # only 3 non-zero values
    reference = SklearnPCA(n_components=5, svd_solver="full").fit(low_rank)
    assert torch.isfinite(ours.components_).all()
    assert np.abs(ours.explained_variance_ratio_.cpu().numpy() - reference.explained_variance_ratio_).max() < 1e-10
    assert np.abs(ours.components_[:3].cpu().numpy() - reference.components_[:3]).max() < 1e-6


def test_randomized_solver_finds_the_leading_components(device):
    """Randomised SVD is approximate: the leading components agree closely, the variances very closely."""
    x = load_digits().data
    exact = PCA(20, solver="full", dtype=torch.float64, device=device).fit(x)
    fast = PCA(20, solver="randomized", dtype=torch.float64, device=device).fit(x)
    assert (fast.components_[:10] - exact.components_[:10]).abs().max() < 1e-4
    assert torch.allclose(fast.explained_variance_ratio_, exact.explained_variance_ratio_, rtol=1e-4)


def test_all_components_reconstruct_exactly(device):
    x = torch.tensor(load_digits().data[:100], dtype=torch.float64)
    pca = PCA(dtype=torch.float64, device=device).fit(x)
    assert pca.components_.shape == (64, 64)
    assert float(pca.explained_variance_ratio_.sum()) == pytest.approx(1.0)
    assert torch.allclose(pca.inverse_transform(pca.transform(x)).cpu(), x, atol=1e-8)


def test_bad_input(device):
    with pytest.raises(ShapeError, match="Flatten images"):
        PCA(2).fit(np.zeros((4, 2, 2)))
    with pytest.raises(EmptyInputError, match="at least one sample and one feature"):
        PCA(2).fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="more than min"):
        PCA(5).fit(np.random.rand(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        PCA(1).fit(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(RuntimeError, match="not fitted"):
        PCA(1).transform(np.ones((1, 2)))
    pca = PCA(1, device=device).fit(np.random.rand(10, 3))
    with pytest.raises(ShapeError, match="fitted on 3 features"):
        pca.transform(np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"expected \(n, 1\) coordinates"):
        pca.inverse_transform(np.ones((2, 2)))
    with pytest.raises(ValueError, match="solver"):
        PCA(1, solver="magic")


@pytest.mark.parametrize("shape", ["tall", "wide", "wide, ill-conditioned"])
def test_float32_default_matches_scikit_learn(shape, device):
    """The default dtype, float32, against scikit-learn in float64, with float32 tolerances.

    The ill-conditioned wide case (singular values spanning a factor of about 7,600) used to lose the
    components' orthogonality like eps * s_0 / s_k (7.6e-4 measured); the QR step keeps it at rounding level.
    """
    rng = np.random.default_rng(0)
    x, k = {"tall": (load_digits().data, 20),
            "wide": (load_digits().data[:300].T.copy(), 40),
            "wide, ill-conditioned": (rng.normal(size=(40, 5)) @ rng.normal(size=(5, 200))
                                      + 1e-3 * rng.normal(size=(40, 200)), 20)}[shape]
    reference = SklearnPCA(n_components=k, svd_solver="full").fit(x)
    ours = PCA(k, solver="full", device=device).fit(torch.tensor(x, dtype=torch.float32))
    assert ours.components_.dtype == torch.float32
    v = ours.components_.double().cpu()
    # CUDA's float32 SVD is a little less exact: 1.01e-5 measured on an H200 (torch 2.11, 2026-11-26), tall case
    assert (v @ v.T - torch.eye(k, dtype=torch.float64)).abs().max() < (1e-5 if device == "cpu" else 3e-5)
    assert np.abs(ours.explained_variance_ratio_.cpu().numpy() - reference.explained_variance_ratio_).max() < 1e-5
    assert np.abs(ours.components_[:5].cpu().numpy() - reference.components_[:5]).max() < 1e-4
    scale = np.abs(x).max()
    rebuilt = ours.inverse_transform(ours.transform(torch.tensor(x, dtype=torch.float32))).double().cpu().numpy()
    assert np.abs(rebuilt - reference.inverse_transform(reference.transform(x))).max() < 1e-5 * scale


def test_one_sample_or_constant_data_are_refused():
    with pytest.raises(ShapeError, match="at least 2 samples"):
        PCA().fit(torch.randn(1, 3))
    for constant in (torch.ones(5, 3), torch.full((4, 2), 0.1)):
        with pytest.raises(ValueError, match="the data are constant"):
            PCA().fit(constant)
    assert torch.isfinite(PCA().fit(torch.tensor([[1.0, 1.0], [1.0, 2.0]])).explained_variance_ratio_).all()


def test_n_components_must_be_a_whole_number():
    for bad in (2.5, 0, True):
        with pytest.raises(ValueError, match="whole number of at least 1"):
            PCA(bad)
    assert PCA(np.int64(2)).fit(np.random.rand(5, 3)).components_.shape == (2, 3)


@pytest.mark.parametrize("name", ["n_iter", "n_oversamples"])
def test_randomized_solver_counts_must_be_whole_and_not_negative(name):
    """n_oversamples=-3 used to shrink the sketch below n_components: 2 components back when 5 were asked for."""
    for bad in (-3, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"{name} must be a whole number of at least 0"):
            PCA(5, solver="randomized", **{name: bad})
    fitted = PCA(5, solver="randomized", device="cpu", **{name: np.int64(0)}).fit(torch.randn(40, 10))
    assert fitted.components_.shape == (5, 10)
