"""Re-execute chapters with the random draws that a GPU changes shifted, and list every check that fails.

    python scripts/seed_sweep.py chapters/02_word2vec.md --shift 7 13
    python scripts/seed_sweep.py --shift 7          # every chapter

On a GPU the same seeds give other random numbers: torch's CUDA generators are
not its CPU generator. So a sentence whose check holds for one set of draws only
passes on the CPU and fails on a GPU. This script finds such sentences on the
CPU: it runs each chapter with every generator made on a device
(``torch.Generator(device=...)``, as `embedkit` makes for draws on the model's
device) and torch's global seed (``torch.manual_seed``, which also seeds the
GPU's dropout and noise) moved by ``--shift``, while generators made without a
device (``torch.Generator()``: data splits and orders, drawn on the CPU on any
machine) keep their seeds. That is a stronger change than a GPU makes: a
network initialised on the CPU from the global seed also starts elsewhere.

Every cell runs, failing or not; the script prints each failing cell's error
and writes nothing (the stored notebooks stay as they are). It exits non-zero
when a check failed. Left out: draws from numpy and Python's ``random``, which
are the same on every device.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jupytext
import nbformat
from run_notebooks import execute  # scripts/ is on the path of a script run from it

from embedkit.device import REPRODUCIBLE_CPU_ENV

ROOT = Path(__file__).resolve().parent.parent

PATCH = """
import torch as _torch

_SHIFT, _Generator, _manual_seed = {shift}, _torch.Generator, _torch.manual_seed


class _ShiftedGenerator(_Generator):  # a generator made for a device draws as if seeded with seed + shift
    def __new__(cls, device=None):
        return _Generator.__new__(cls) if device is None else _Generator.__new__(cls, device=device)

    def __init__(self, device=None):
        self._shifted = device is not None

    def manual_seed(self, seed):
        return _Generator.manual_seed(self, seed + _SHIFT if self._shifted else seed)


_torch.Generator = _ShiftedGenerator
_torch.manual_seed = lambda seed: _manual_seed(seed + _SHIFT)
"""


def shifted(source: Path, shift: int) -> nbformat.NotebookNode:
    """The chapter ``source`` as a notebook whose first cell shifts the device draws' seeds by ``shift``."""
    notebook = jupytext.read(source)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(PATCH.format(shift=int(shift))))
    return notebook


def failures(notebook: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell number, counting from 1 with markdown cells, error name, message) of every cell of the chapter that failed."""
    return [(i, out.get("ename", ""), out.get("evalue", "")) for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" for out in cell.get("outputs", []) if out.get("output_type") == "error"]


def sweep(source: Path, shift: int, timeout: int = 900) -> tuple[list[tuple[int, str, str]], float]:
    """Execute ``source`` with its device draws shifted by ``shift``; return its failures and the seconds taken."""
    notebook, seconds = execute(source, timeout, notebook=shifted(source, shift), allow_errors=True)
    return failures(notebook), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", type=Path, help="chapter .md files (default: all)")
    parser.add_argument("--shift", nargs="+", type=int, default=[7], help="seed shifts to try (default: 7)")
    args = parser.parse_args()
    os.environ.setdefault("EMBEDKIT_PROGRESS", "0")
    os.environ.update(REPRODUCIBLE_CPU_ENV)  # kernels inherit it
    sources = args.sources or sorted((ROOT / "chapters").glob("[0-9]*.md"))
    failed = 0
    for shift in args.shift:
        for source in sources:
            errors, seconds = sweep(source.resolve(), shift)
            print(f"{source.name:40s} shift {shift:3d}: {'ok' if not errors else 'FAILED'} ({seconds:.0f} s)", flush=True)
            for cell, name, message in errors:
                print(f"    cell {cell}: {name}: {message[:1000]}", flush=True)
            failed += bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
