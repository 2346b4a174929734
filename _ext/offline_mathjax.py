"""Equations without a network: MathJax comes from the pinned jupyter-server-mathjax package.

Sphinx would load MathJax 3 from a CDN, so a book built or read offline showed raw ``\\(q_i\\)``. This
extension copies the package's MathJax 2.7 files into ``_static/mathjax`` of the HTML output, and
``_config.yml`` points ``mathjax_path`` at them. ``tests/test_book.py`` checks that no page loads a
script or stylesheet from the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import jupyter_server_mathjax
from sphinx.application import Sphinx

SOURCE = Path(jupyter_server_mathjax.__file__).parent / "static"


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """After an HTML build, put MathJax where ``mathjax_path`` says it is."""
    if exception is None and app.builder.format == "html":
        shutil.copytree(SOURCE, Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def setup(app: Sphinx) -> dict:
    if not (SOURCE / "MathJax.js").is_file():
        raise FileNotFoundError(f"MathJax is missing from {SOURCE}; reinstall jupyter-server-mathjax (make env).")
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
