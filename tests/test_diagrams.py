"""The drawing helpers: shapes land where asked, and bad input gets a clear error."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from embedkit.diagrams import arrow, box, canvas, grid
from embedkit.errors import ShapeError


def test_shapes_land_where_asked():
    fig, ax = canvas(6, 3)
    assert ax.get_xlim() == (0, 6) and ax.get_ylim() == (0, 3)
    patch = box(ax, 2.0, 1.0, "encoder", width=1.0, height=0.5)
    assert (patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()) == (1.5, 0.75, 1.0, 0.5)
    assert any(t.get_text() == "encoder" for t in ax.texts)
    cells = grid(ax, 3.0, 0.0, [[1, 0, 0], [0, np.nan, 1]], cell=0.5, labels=[["a", "", ""], ["", "", "b"]])
    assert len(cells) == 6
    assert cells[0].get_xy() == (3.0, 0.5) and cells[5].get_xy() == (4.0, 0.0)  # row 0 on top
    assert cells[4].get_facecolor() == (1.0, 1.0, 1.0, 1.0)  # NaN: an empty white cell
    assert cells[0].get_facecolor() != cells[1].get_facecolor()  # 1 and 0 get different shades
    arrow(ax, (0, 0), (1, 1), text="W")
    assert ax.texts[-1].get_text() == "W" and ax.texts[-1].get_position() == (0.5, 0.5)
    matplotlib.pyplot.close(fig)


def test_bad_input():
    fig, ax = canvas(2, 2)
    with pytest.raises(ShapeError, match="2-D"):
        grid(ax, 0, 0, [1, 2, 3])
    with pytest.raises(ShapeError, match="labels"):
        grid(ax, 0, 0, [[1, 2]], labels=[["a"]])
    with pytest.raises(ValueError, match="positive"):
        canvas(0, 2)
    matplotlib.pyplot.close(fig)
