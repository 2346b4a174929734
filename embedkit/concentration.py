"""Distance concentration: why "nearest" loses its meaning in high dimensions.

Beyer et al. (1999) showed that, for many data distributions, the distance from
a query to its farthest neighbour approaches the distance to its nearest one as
the dimension grows: the *relative contrast* ``(D_max - D_min) / D_min`` goes to
zero. This module measures it, on any point set or on random points.

Left out: fractional (L_p with p < 1) norms, which Aggarwal et al. (2001)
suggest as a partial remedy.
"""

from __future__ import annotations

import numpy as np
import torch

from .device import get_device, seeded_generator, widest_float
from .errors import EmptyInputError, ShapeError, check_positive, check_real


def relative_contrast(points: torch.Tensor | np.ndarray, queries: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(D_max - D_min) / D_min`` of Euclidean distances from each query to all points (one value per query).

    Numpy arrays are taken as tensors; the result is on the device of ``points``.
    """
    points = torch.as_tensor(points)
    queries = torch.as_tensor(queries, device=points.device)
    check_real("points", points), check_real("queries", queries)
    if points.ndim != 2 or queries.ndim != 2 or points.shape[1] != queries.shape[1]:
        raise ShapeError(f"points and queries must be 2-D with equal columns; got {tuple(points.shape)} "
                         f"and {tuple(queries.shape)}.")
    if points.shape[0] < 2 or queries.shape[0] == 0:
        raise EmptyInputError("need at least two points and one query.")
    wide = widest_float(points.device)
    distance = torch.cdist(queries.to(wide), points.to(wide))
    nearest, farthest = distance.min(dim=1).values, distance.max(dim=1).values
    if not bool(torch.isfinite(farthest).all()):  # NaN and infinity reach the farthest distance
        raise ValueError("points or queries contain NaN or infinity; drop or fix those rows first.")
    if bool((nearest == 0).any()):
        raise ValueError("a query coincides with a point (distance 0); remove it from the points first.")
    return (farthest - nearest) / nearest


def concentration_curve(dims: list[int], n_points: int = 1000, n_queries: int = 100, seed: int = 0,
                        device: str | torch.device | None = None) -> list[dict[str, float]]:
    """Relative contrast and the spread of distances for uniform random points in ``[0, 1]^d``.

    Returns one row per dimension with the mean relative contrast and the
    coefficient of variation (std / mean) of all query-point distances. Raises `EmptyInputError` for no
    dims, ValueError for a dimension or count below 1.
    """
    if len(dims) == 0:  # would return no rows
        raise EmptyInputError("dims is empty; give at least one dimension, e.g. [2, 10, 100].")
    for d in dims:
        check_positive("each of dims", d)
    check_positive("n_points", n_points), check_positive("n_queries", n_queries)
    device = get_device(device)
    generator = seeded_generator(seed)
    rows = []
    for d in dims:
        points = torch.rand(n_points, d, generator=generator).to(device)
        queries = torch.rand(n_queries, d, generator=generator).to(device)
        distance = torch.cdist(queries.to(widest_float(device)), points.to(widest_float(device)))
        rows.append({
            "dim": d,
            "relative_contrast": float(relative_contrast(points, queries).mean()),
            "cv_distance": float(distance.std() / distance.mean()),
        })
    return rows
