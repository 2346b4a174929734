"""Ratings: (user, item, rating, time) rows, with users and items indexed 0..n-1.

`Ratings` holds (user, item, rating, time) rows with users and items
re-indexed to 0..n-1; the raw IDs are kept to translate back. Bad input
(empty, NaN, off-scale, duplicate pairs) raises a clear error.

Left out: reading rating files, splitting and scoring them (`recsys`);
implicit feedback (`bpr` reads these rows as interactions); adding rows, users
or items to a built `Ratings` (build a new one from the raw rows); and
converting raw IDs between types (``'1'`` and ``1`` are two IDs; a lookup of
the other type says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .errors import EmptyInputError, ShapeError, UnknownIDError, check_ids, check_real


@dataclass
class Ratings:
    """Ratings with users and items indexed 0..n-1; ``user_ids[u]`` / ``item_ids[i]`` are the raw IDs."""

    users: torch.Tensor  # int64 indices
    items: torch.Tensor  # int64 indices
    values: torch.Tensor  # float32 ratings
    times: torch.Tensor  # int64 timestamps (0 when unknown)
    user_ids: list
    item_ids: list
    scale: tuple[float, float] = (1.0, 5.0)
    _user_index: dict = field(default_factory=dict, repr=False)
    _item_index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {raw: u for u, raw in enumerate(self.user_ids)}
        self._item_index = {raw: i for i, raw in enumerate(self.item_ids)}

    @classmethod
    def from_arrays(cls, users: Sequence, items: Sequence, values: Sequence[float], times: Sequence[int] | None = None,
                    scale: tuple[float, float] = (1.0, 5.0)) -> "Ratings":
        """Validate raw (user, item, rating) rows and index the IDs in order of first appearance.

        Raises ValueError for NaN ratings, ratings off the scale, pairs rated twice and missing (None or NaN)
        user or item IDs."""
        check_real("ratings", values)
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1:
            raise ShapeError(f"ratings must be 1-D, one number per (user, item) row; got shape {values.shape}. "
                             "Flatten them first, e.g. values.ravel().")
        if len(values) == 0:
            raise EmptyInputError("no ratings given.")
        if not (len(users) == len(items) == len(values)) or (times is not None and len(times) != len(values)):
            raise ValueError("users, items, ratings (and times) must have the same length.")
        if np.isnan(values).any():
            raise ValueError(f"{int(np.isnan(values).sum())} ratings are NaN; drop or fill them first.")
        low, high = scale
        off = (values < low) | (values > high)
        if off.any():
            raise ValueError(f"{int(off.sum())} ratings lie outside the scale {scale}, e.g. {values[off][0]}; "
                             "fix the data or pass the right scale.")
        user_ids = list(dict.fromkeys(users))
        item_ids = list(dict.fromkeys(items))
        for name, raw, known in (("user", users, user_ids), ("item", items, item_ids)):
            if any(_missing(x) for x in known):  # the distinct IDs only: cheap when none is missing
                raise ValueError(f"{sum(_missing(x) for x in raw)} {name} IDs are missing (None or NaN); drop "
                                 "those rows first (e.g. pandas' dropna), or fill them in.")
        u_index = {raw: u for u, raw in enumerate(user_ids)}
        i_index = {raw: i for i, raw in enumerate(item_ids)}
        u = torch.tensor([u_index[x] for x in users], dtype=torch.long)
        i = torch.tensor([i_index[x] for x in items], dtype=torch.long)
        keys = u * len(item_ids) + i
        if len(torch.unique(keys)) != len(keys):
            raise ValueError("some (user, item) pairs are rated more than once; keep one rating per pair "
                             "(for example the latest) before building Ratings.")
        t = torch.zeros(len(values), dtype=torch.long) if times is None else _timestamps(times)
        return cls(u, i, torch.tensor(values, dtype=torch.float32), t, user_ids, item_ids, scale)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user(self, raw_id) -> int:
        """The index of a raw user ID; `UnknownIDError` for a user with no training ratings (the message says
        so when the ID is known as another type: the string '1' where the IDs are the int 1, or back)."""
        if raw_id not in self._user_index:
            raise UnknownIDError(f"user {raw_id!r} has no ratings in this data (a cold-start user): the model "
                                 "has no vector for them; recommend popular items or collect ratings first."
                                 + _other_type(raw_id, self._user_index, "user"))
        return self._user_index[raw_id]

    def item(self, raw_id) -> int:
        """The index of a raw item ID; `UnknownIDError` for an item nobody rated (or known as another type)."""
        if raw_id not in self._item_index:
            raise UnknownIDError(f"item {raw_id!r} has no ratings in this data (a cold-start item)."
                                 + _other_type(raw_id, self._item_index, "item"))
        return self._item_index[raw_id]

    def subset(self, rows: torch.Tensor) -> "Ratings":
        """The same users and items (same indices), only the given rows (indices in ``[0, len(self))`` or a
        boolean mask of length ``len(self)``)."""
        rows = torch.as_tensor(rows)
        if rows.dtype == torch.bool:
            if rows.shape != (len(self),):
                raise ShapeError(f"a boolean mask of rows must have shape ({len(self)},), got {tuple(rows.shape)}.")
        else:
            rows = check_ids("row indices", rows, len(self), "Or give a boolean mask of the rows.")
        return Ratings(self.users[rows], self.items[rows], self.values[rows], self.times[rows],
                       self.user_ids, self.item_ids, self.scale)

    def sparse(self) -> torch.Tensor:
        """The ``n_users x n_items`` rating matrix as a sparse COO tensor (only the known ratings stored)."""
        indices = torch.stack([self.users, self.items])
        return torch.sparse_coo_tensor(indices, self.values, (self.n_users, self.n_items), check_invariants=True).coalesce()

    def matrix(self) -> torch.Tensor:
        """The dense ``n_users x n_items`` rating matrix, 0 where unrated."""
        m = torch.zeros(self.n_users, self.n_items)
        m[self.users, self.items] = self.values
        return m


def _missing(raw) -> bool:
    """Whether a raw ID is None, NaN (the one value unequal to itself) or pandas' NA (which refuses bool())."""
    try:
        return raw is None or bool(raw != raw)
    except TypeError:
        return True


def _other_type(raw_id, index: dict, name: str) -> str:
    """A hint for an unknown ID that the index holds as another type ('1' for 1, or 1 for '1'); else ''."""
    others = [str(raw_id)] + ([int(raw_id)] if isinstance(raw_id, str) and raw_id.strip().isdecimal() else [])
    for other in others:
        if type(other) is not type(raw_id) and other in index:
            return (f" The {name} IDs here are of type {type(other).__name__}, and {other!r} is one of them: "
                    f"pass {other!r}, not {raw_id!r}.")
    return ""


def _timestamps(times: Sequence[int]) -> torch.Tensor:
    """Times as int64, refusing what a cast would silently change: NaN, infinity, fractions, non-numbers."""
    raw = np.asarray(times)
    if raw.dtype.kind not in "iuf":
        raise TypeError(f"times must be integer timestamps (e.g. seconds since 1970); got dtype {raw.dtype}.")
    if raw.dtype.kind == "f" and not ((np.abs(raw) < 2.0**63) & (raw == np.round(raw))).all():
        raise ValueError("times must be whole-number timestamps; some are NaN, infinite, fractional or too large. "
                         "Fill or round them first (or leave times out: 0 for all).")
    return torch.tensor(raw, dtype=torch.long)
