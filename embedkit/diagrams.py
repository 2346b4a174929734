"""Schematic diagrams for the chapters, drawn with matplotlib from three shapes.

A diagram is a `canvas` in abstract units (no axes, equal aspect), on which
`box` draws a labelled rounded rectangle, `arrow` an arrow between two points
and `grid` a matrix of cells (a one-hot vector, a window of words, a ratings
matrix). Every chapter draws its schematic with these, so the pictures share
one look and no chapter carries its own drawing helpers.

Left out: automatic layout. Coordinates are given by hand, as on paper.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from .errors import ShapeError


def canvas(width: float, height: float, scale: float = 0.9) -> tuple[Figure, Axes]:
    """An empty figure whose axes run from 0 to ``width`` and 0 to ``height`` (``scale`` inches per unit)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive; got {width}, {height}.")
    fig, ax = plt.subplots(figsize=(width * scale, height * scale))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax: Axes, x: float, y: float, text: str, width: float = 2.0, height: float = 0.8,
        color: str = "C0", fontsize: float = 10) -> FancyBboxPatch:
    """A rounded box centred at ``(x, y)`` with ``text`` inside (light fill, coloured edge)."""
    patch = FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02,rounding_size=0.1",
                           facecolor=color, alpha=0.18, edgecolor="none")
    ax.add_patch(patch)
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.1", facecolor="none", edgecolor=color, lw=1.5))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return patch


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str | None = None,
          color: str = "0.25", fontsize: float = 9, curve: float = 0.0) -> FancyArrowPatch:
    """An arrow from ``start`` to ``end`` (bent by ``curve``), with an optional label at its middle."""
    patch = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, lw=1.3,
                            connectionstyle=f"arc3,rad={curve}", shrinkA=2, shrinkB=2)
    ax.add_patch(patch)
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=fontsize, color=color,
                bbox=dict(facecolor="white", edgecolor="none", pad=1))
    return patch


def grid(ax: Axes, x: float, y: float, values: Sequence[Sequence[float]] | np.ndarray, cell: float = 0.4,
         cmap: str = "Blues", labels: Sequence[Sequence[str]] | None = None, title: str | None = None,
         fontsize: float = 8) -> list[Rectangle]:
    """A matrix of cells with its lower-left corner at ``(x, y)``, shaded by ``values`` (row 0 on top).

    ``values`` in [0, 1] set the shade (NaN: an empty white cell); ``labels`` write text in the cells;
    ``title`` goes above the matrix. Returns the cells, row by row.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.size == 0:
        raise ShapeError(f"values must be a non-empty 2-D array (rows x columns); got shape {values.shape}.")
    if labels is not None and np.shape(labels) != values.shape:
        raise ShapeError(f"labels must have the shape of values, {values.shape}; got {np.shape(labels)}.")
    colours = plt.get_cmap(cmap)
    rows, cols = values.shape
    cells = []
    for i in range(rows):
        for j in range(cols):
            v = values[i, j]
            face = "white" if np.isnan(v) else colours(0.1 + 0.8 * float(np.clip(v, 0, 1)))
            rect = Rectangle((x + j * cell, y + (rows - 1 - i) * cell), cell, cell, facecolor=face, edgecolor="0.4", lw=0.8)
            ax.add_patch(rect)
            cells.append(rect)
            if labels is not None and labels[i][j]:
                ax.text(x + (j + 0.5) * cell, y + (rows - 1 - i + 0.5) * cell, labels[i][j], ha="center", va="center",
                        fontsize=fontsize)
    if title:
        ax.text(x + cols * cell / 2, y + rows * cell + 0.1, title, ha="center", va="bottom", fontsize=fontsize + 1)
    return cells
