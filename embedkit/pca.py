"""Principal component analysis (Pearson 1901) in torch: the linear embedding every other one is compared with.

`PCA` centres the data and takes its singular value decomposition; the top
right-singular vectors are the directions of maximum variance, and projecting
on them is the embedding. Two solvers:

- ``"full"``: an exact SVD (``torch.linalg.svd``) of the small triangular
  factor of a QR decomposition of the data (or of its transpose, for data
  with fewer rows than columns), which is faster than an SVD of the data;
- ``"randomized"``: the randomised range finder of Halko, Martinsson and Tropp
  (2011) with power iterations, for many rows and few components.

Signs follow scikit-learn (the largest-magnitude entry of each component is
positive), so results can be compared with ``sklearn.decomposition.PCA``; the
tests do, in float64.

Left out: whitening (`layerwise.Whitening` has it), incremental (out-of-core)
fitting, and kernel PCA.
"""

from __future__ import annotations


import numpy as np
import torch

from .device import get_device, seeded_generator
from .errors import EmptyInputError, ShapeError, check_real, check_whole, is_whole


def _svd(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Thin SVD. On CUDA with cuSOLVER's QR-based ``gesvd``: torch's default there, the Jacobi ``gesvdj``, left
    float32 components orthonormal to only 1e-5 (H200, torch 2.11), which broke Eckart-Young to 2.4e-4."""
    if a.is_cuda:
        return torch.linalg.svd(a, full_matrices=False, driver="gesvd")
    return torch.linalg.svd(a, full_matrices=False)


def _check_spread(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself if its rows have some variance to explain: at least 2 samples, not all equal."""
    if len(x) < 2:
        raise ShapeError(f"PCA needs at least 2 samples to measure variance; got {len(x)}.")
    low, high = torch.aminmax(x, dim=0)
    if torch.equal(low, high):
        raise ValueError("the data are constant (every sample is the same): there is no variance to explain; "
                         "check how the array was built.")
    return x


class PCA:
    """Fit with `fit`, embed with `transform`, reconstruct with `inverse_transform`.

    Raises ValueError for an unknown ``solver`` or a count out of range (``n_components`` below 1,
    ``n_iter`` or ``n_oversamples`` below 0).
    """

    def __init__(self, n_components: int | None = None, solver: str = "auto", n_iter: int = 6, n_oversamples: int = 10,
                 seed: int = 0, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> None:
        if solver not in ("auto", "full", "randomized"):
            raise ValueError(f"solver must be 'auto', 'full' or 'randomized'; got {solver!r}.")
        whole = is_whole(n_components)
        if n_components is not None and not (whole and n_components >= 1):
            raise ValueError(f"n_components must be a whole number of at least 1 (or None: all), got {n_components!r}.")
        n_iter, n_oversamples = check_whole("n_iter", n_iter), check_whole("n_oversamples", n_oversamples)
        self.n_components, self.solver, self.n_iter, self.n_oversamples = n_components, solver, n_iter, n_oversamples
        self.seed, self.dtype, self.device = check_whole("seed", seed), dtype, get_device(device)

    def _as_tensor(self, x: torch.Tensor | np.ndarray, features: int | None = None) -> torch.Tensor:
        x = torch.as_tensor(x)
        check_real("the data", x)
        x = x.to(self.device, self.dtype)
        if x.ndim != 2:
            raise ShapeError(f"PCA needs a 2-D (n_samples, n_features) array; got shape {tuple(x.shape)}. "
                             "Flatten images first, e.g. x.reshape(len(x), -1).")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise EmptyInputError(f"PCA needs at least one sample and one feature; got shape {tuple(x.shape)}.")
        if features is not None and x.shape[1] != features:
            raise ShapeError(f"this PCA was fitted on {features} features; got {x.shape[1]}.")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("the data contain NaN or infinity; remove or impute them first.")
        return x

    def fit(self, x: torch.Tensor | np.ndarray) -> "PCA":
        """Learn the mean and the principal components of ``x``."""
        x = self._as_tensor(x)
        n, d = _check_spread(x).shape
        k = self.n_components or min(n, d)
        if k > min(n, d):
            raise ValueError(f"n_components={k} is more than "
                             f"min(n_samples, n_features) = {min(n, d)}.")
        self.mean_ = x.mean(dim=0)
        centred = x - self.mean_
        total_variance = centred.pow(2).sum() / max(n - 1, 1)
        solver = self.solver
        if solver == "auto":  # scikit-learn's rule of thumb
            solver = "randomized" if max(n, d) > 500 and k < 0.8 * min(n, d) else "full"
        if solver == "full" and n >= d:
            # Tall data: X = QR, then the SVD of the small d x d factor R has X's
            # singular values and right vectors. Q is never formed, which makes this
            # about twice as fast as an SVD of X itself.
            _, s, vt = _svd(torch.linalg.qr(centred, mode="r").R)
        elif solver == "full":
            # Wide data: X^T = QR, so X = R^T Q^T and the SVD of the small n x n matrix
            # R^T = U S W^T gives U and S; the right vectors span X^T U_k = V_k S_k.
            # Dividing by S_k would lose orthogonality like eps * s_0 / s_k in float32;
            # the QR of X^T U_k gives V_k orthonormal to rounding instead (its columns
            # come out in S's order, signs are fixed below). Q is never formed: about
            # 1.6x faster than svd(X).
            u, s, _ = _svd(torch.linalg.qr(centred.T, mode="r").R.T)
            if bool((s[:k] > s[0] * torch.finfo(s.dtype).eps * max(n, d)).all()):
                vt = torch.linalg.qr(centred.T @ u[:, :k]).Q.T
            else:  # rank-deficient: some of the wanted singular values are zero
                _, s, vt = _svd(centred)
        else:
            s, vt = self._randomized_svd(centred, k)
        s, vt = s[:k], vt[:k]
        # scikit-learn's sign rule: the largest-magnitude entry of each component is
        # positive
        signs = torch.sign(vt.gather(1, vt.abs().argmax(dim=1, keepdim=True)))
        self.components_ = vt * signs
        self.singular_values_ = s
        self.explained_variance_ = s.pow(2) / max(n - 1, 1)
        self.explained_variance_ratio_ = self.explained_variance_ / total_variance
        return self

    def _randomized_svd(self, a: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top singular values and right vectors of ``a`` by a randomised range finder with power iterations."""
        generator = seeded_generator(self.seed, self.device)
        width = min(k + self.n_oversamples, min(a.shape))
        q = torch.randn(a.shape[1], width, generator=generator, device=self.device, dtype=a.dtype)
        q, _ = torch.linalg.qr(a @ q)
        for _ in range(self.n_iter):  # power iterations sharpen the spectrum; QR keeps them stable
            q, _ = torch.linalg.qr(a.T @ q)
            q, _ = torch.linalg.qr(a @ q)
        _, s, vt = _svd(q.T @ a)
        return s, vt

    def _fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise RuntimeError("this PCA is not fitted yet; call fit(x) first.")

    def transform(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Coordinates of ``x`` on the principal components: ``(n, n_components)``."""
        self._fitted()
        x = self._as_tensor(x, self.components_.shape[1])
        return (x - self.mean_) @ self.components_.T

    def fit_transform(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """`fit`, then `transform` the same data."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Back from component coordinates to the original space (the best rank-k reconstruction)."""
        self._fitted()
        z = torch.as_tensor(z)
        check_real("the coordinates", z)
        z = z.to(self.device, self.dtype)
        if z.ndim != 2 or z.shape[1] != self.components_.shape[0]:
            raise ShapeError(f"expected (n, {self.components_.shape[0]}) coordinates; got {tuple(z.shape)}.")
        if not bool(torch.isfinite(z).all()):
            raise ValueError("the coordinates contain NaN or infinity; transform finite data, or drop those rows.")
        return z @ self.components_ + self.mean_
