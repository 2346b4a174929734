import pytest
import torch

from embedkit.concentration import concentration_curve, relative_contrast
from embedkit.errors import EmptyInputError, ShapeError


def test_relative_contrast_by_hand():
    points = torch.tensor([[1.0], [2.0], [4.0]])
    # from 0: nearest 1, farthest 4 -> (4 - 1) / 1 = 3
    assert relative_contrast(points, torch.tensor([[0.0]])).tolist() == [3.0]


def test_contrast_falls_as_dimension_grows():
    rows = concentration_curve([2, 10, 100, 1000], n_points=500, n_queries=50, device="cpu")
    contrast = [r["relative_contrast"] for r in rows]
    spread = [r["cv_distance"] for r in rows]
    assert contrast == sorted(contrast, reverse=True) and contrast[0] > 10 * contrast[-1]
    assert spread == sorted(spread, reverse=True)
    assert rows == concentration_curve([2, 10, 100, 1000], n_points=500, n_queries=50, device="cpu")
    # each row recomputed from the same seeded draws: mean relative contrast, std / mean of all the distances
    generator = torch.Generator().manual_seed(0)
    for row, d in zip(rows, [2, 10, 100, 1000]):
        points, queries = torch.rand(500, d, generator=generator), torch.rand(50, d, generator=generator)
        distance = torch.cdist(queries.double(), points.double())
        assert row["relative_contrast"] == pytest.approx(float(relative_contrast(points, queries).mean()), rel=1e-12)
        assert row["cv_distance"] == pytest.approx(float(distance.std() / distance.mean()), rel=1e-12)


def test_contrast_errors():
    with pytest.raises(ShapeError, match="equal columns"):
        relative_contrast(torch.zeros(3, 2), torch.zeros(1, 3))
    with pytest.raises(EmptyInputError, match="at least two points"):
        relative_contrast(torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="coincides"):
        relative_contrast(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0]]))


def test_numpy_input_and_bad_values():
    import numpy as np

    points = np.array([[1.0], [2.0], [4.0]])
    assert relative_contrast(points, np.array([[0.0]])).tolist() == [3.0]
    assert relative_contrast(torch.as_tensor(points), np.zeros((1, 1))).tolist() == [3.0]
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="NaN or infinity; drop or fix"):
            relative_contrast(points, np.array([[bad]]))
        with pytest.raises(ValueError, match="NaN or infinity"):
            relative_contrast(np.array([[1.0], [bad]]), np.array([[0.0]]))
    for dims in ([0], [2.5], [-3]):
        with pytest.raises(ValueError, match="each of dims must be a whole number of at least 1"):
            concentration_curve(dims, n_points=10, n_queries=2, device="cpu")


def test_concentration_curve_needs_dims_and_positive_counts():
    """dims=[] used to return [] silently, n_points=-1 to fail inside torch.rand."""
    with pytest.raises(EmptyInputError, match="dims is empty"):
        concentration_curve([], device="cpu")
    for name in ("n_points", "n_queries"):
        for bad in (0, -1, True):
            with pytest.raises(ValueError, match=f"{name} must be a whole number of at least 1"):
                concentration_curve([2], **{name: bad}, device="cpu")
    assert len(concentration_curve([2], n_points=3, n_queries=1, device="cpu")) == 1
