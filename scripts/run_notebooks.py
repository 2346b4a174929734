"""Re-create chapters/*.ipynb from their jupytext sources and execute them; print seconds per chapter.

    python scripts/run_notebooks.py                 # every chapter
    python scripts/run_notebooks.py chapters/01_*.md
    python scripts/run_notebooks.py --dry-run        # execute, time, write nothing

Each chapter runs in a fresh kernel with the chapters/ folder as working
directory, under `embedkit.device.REPRODUCIBLE_CPU_ENV` (the CPU code paths
that make the stored outputs the same on every x86-64 CPU with AVX2; nbval
uses the same ones). The .ipynb is written from the .md's cells plus their new outputs,
so the pair is in sync afterwards. Exits non-zero when a cell fails or when a
chapter takes longer than --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from embedkit.device import REPRODUCIBLE_CPU_ENV

ROOT = Path(__file__).resolve().parent.parent


def execute(source: Path, timeout: int = 600, notebook: nbformat.NotebookNode | None = None,
            allow_errors: bool = False) -> tuple[nbformat.NotebookNode, float]:
    """Execute the notebook read from ``source`` (or ``notebook``, run in ``source``'s folder) and return it with
    the wall-clock seconds it took. ``allow_errors``: run every cell, leaving a failing cell's error in its outputs."""
    notebook = jupytext.read(source) if notebook is None else notebook
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(source.parent)}})
    start = time.perf_counter()
    client.execute()
    return notebook, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="*", type=Path, help="chapter .md files (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="do not write the .ipynb files")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="fail if a chapter takes longer")
    args = parser.parse_args()
    os.environ.setdefault("EMBEDKIT_PROGRESS", "0")
    os.environ.update(REPRODUCIBLE_CPU_ENV)  # kernels inherit it
    sources = args.sources or sorted((ROOT / "chapters").glob("[0-9]*.md"))
    failed, total = [], 0.0
    print(f"{'chapter':45s} {'seconds':>8s}")
    for source in sources:
        source = source.resolve()
        try:
            notebook, seconds = execute(source)
        except Exception as exc:  # a failing cell: report it and go on with the other chapters
            print(f"{source.name:45s} FAILED: {type(exc).__name__}: {str(exc)[-2000:]}")
            failed.append(source.name)
            continue
        total += seconds
        slow = seconds > args.max_seconds
        print(f"{source.name:45s} {seconds:8.1f}{'  over the limit of %.0f s' % args.max_seconds if slow else ''}")
        if slow:
            failed.append(source.name)
        if not args.dry_run:
            jupytext.write(notebook, source.with_suffix(".ipynb"), fmt="ipynb")
    print(f"{'total':45s} {total:8.1f}")
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
