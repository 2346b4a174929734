"""The GPU check's steps that run programs: the tests, the benchmarks, the search benchmark (see device_check.py).

Each step starts its programs in their own process groups under a time limit
taken from the run's budget (`Clock`), logs their output to a file under $OUT,
and returns what the report shows. The programs run through ``device_check.py
exec`` so that a dry run's emulation of the GPU machine (device_hook.py)
applies to them too. Nothing here parses the benchmarks' numbers: the report
quotes their output.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from device_hook import TESTLOG_ENV

ROOT = Path(__file__).resolve().parent.parent

# -- helpers -------------------------------------------------------------------------------------------------
class Clock:
    def __init__(self, budget: float) -> None:
        self.start, self.budget = time.monotonic(), budget

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()


LOG_LOCK = threading.Lock()


def run_logged(command: list[str], log: Path, timeout: float, env: dict | None = None, cwd: Path = ROOT,
               title: str = "") -> tuple[int | None, float, str]:
    """Run ``command`` in its own process group, append its output to ``log``; kill the group at ``timeout``.

    Returns (exit code or None when killed, seconds, output)."""
    start = time.monotonic()
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
    with LOG_LOCK, open(log, "a") as fh:  # one block per command, also when chapters run side by side
        fh.write(f"\n===== {title or ' '.join(command)}\n$ {' '.join(command)}\n{out}"
                 f"===== exit {code}, {time.monotonic() - start:.1f} s\n")
    return code, time.monotonic() - start, out


def python() -> str:
    return sys.executable


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
    command = [python(), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "device_hook",
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
    if args.dry_run or args.tests_k:
        command += ["-k", args.tests_k or args.dry_run_tests]
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
            ("Word2Vec vs gensim, Wikipedia (5 articles), skip-gram, CUDA graph", [*w2v_quick, "--graph"], 120),
            ("Word2Vec vs gensim, Wikipedia (5 articles), skip-gram, CUDA graph, fused (triton)",
             [*w2v_quick, "--graph", "--fused"], 120),
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
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs, CUDA graph",
         [*w2v, "--graph", "--repeats", "3"], 120),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs, CUDA graph, fused (triton)",
         [*w2v, "--graph", "--fused", "--repeats", "3"], 120),
        ("Word2Vec vs gensim (all cores), news corpus, skip-gram, 5 epochs, CUDA graph, fused (triton)",
         [*w2v, "--graph", "--fused", "--corpus", "news", "--repeats", "1"], 120),
        ("Word2Vec, Wikipedia slice, skip-gram, CUDA graph, fused (triton): one epoch's time (torch.profiler)",
         [*w2v, "--graph", "--fused", "--profile"], 60),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs, CUDA graph, fused, 1 pair per program",
         [*w2v, "--graph", "--fused", "--fused-pairs", "1", "--repeats", "3"], 120),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs, CUDA graph, fused, 16 pairs per program",
         [*w2v, "--graph", "--fused", "--fused-pairs", "16", "--repeats", "3"], 120),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, skip-gram, 5 epochs, CUDA graph, 8 pairs per noise draw",
         [*w2v, "--graph", "--pairs-per-draw", "8", "--repeats", "3"], 120),
        ("Word2Vec vs gensim (all cores), news corpus, skip-gram, 5 epochs, CUDA graph, 8 pairs per noise draw",
         [*w2v, "--graph", "--pairs-per-draw", "8", "--corpus", "news", "--repeats", "1"], 120),
        ("Word2Vec, Wikipedia slice, skip-gram, CUDA graph: where one epoch's time goes (torch.profiler)",
         [*w2v, "--graph", "--profile"], 60),
        ("Word2Vec, Wikipedia slice, skip-gram, CUDA graph, 8 pairs per noise draw: one epoch's time (torch.profiler)",
         [*w2v, "--graph", "--pairs-per-draw", "8", "--profile"], 60),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, CBOW, 5 epochs, CUDA graph",
         [*w2v, "--graph", "--cbow", "--repeats", "2"], 90),
        ("Word2Vec vs gensim (all cores), Wikipedia slice, shared negatives, 5 epochs, CUDA graph",
         [*w2v, "--graph", "--shared-negatives", "--repeats", "2"], 90),
        ("Word2Vec vs gensim (all cores), news corpus, skip-gram, 5 epochs, CUDA graph",
         [*w2v, "--graph", "--corpus", "news", "--repeats", "1"], 120),
        ("encoder vs sentence-transformers, random MiniLM-shaped weights, fp32/fp16/bf16",
         ["benchmarks/bert_vs_sentence_transformers.py", "--device", device, "--random-weights", "--precisions",
          "fp32,fp16,bf16", "--sentences", "1000", "--repeats", "3"], 120),
        ("encoder vs sentence-transformers, fp16 autocast: where each one's time goes (torch.profiler)",
         ["benchmarks/bert_vs_sentence_transformers.py", "--device", device, "--random-weights", "--profile", "fp16",
          "--sentences", "1000", "--repeats", "1"], 60),
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


def run_benchmarks(args, out: Path, env: dict, clock: Clock, device: str, results: list, report, plan=None,
                   reserve: float | None = None, log: str = "benchmarks.log") -> None:
    """Each (title, command, cap) of ``plan`` (default: `benchmark_plan`) while the budget, less ``reserve``
    seconds (default: ``args.reserve_after_bench``), allows; a result per command, its output's tail quoted."""
    bench_env = {**env, "EMBEDKIT_DEVICE": device, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
                 "TQDM_DISABLE": "1", "PYTHONWARNINGS": "ignore"}
    if plan is None:
        plan = benchmark_plan(args, device)
        if args.benchmarks:  # only the titles that contain one of the given words (not the search step's plan)
            plan = [step for step in plan if any(word in step[0] for word in args.benchmarks.split(","))]
    reserve = args.reserve_after_bench if reserve is None else reserve
    for title, command, cap in plan:
        limit = min(cap, clock.left() - reserve)
        if limit < 20:
            results.append({"title": title, "command": " ".join(command), "exit": "not run",
                            "seconds": 0, "output": f"(skipped: {clock.left():.0f} s of the budget left)"})
            continue
        code, seconds, text = run_logged([python(), str(ROOT / "scripts" / "device_check.py"), "exec", *command],
                                         out / log, limit, bench_env, title=title)
        results.append({"title": title, "command": "python " + " ".join(command), "exit": code, "seconds": seconds,
                        "output": text.strip()[-3500:]})
        report()


# -- step 4 (a second device call, --only search, kit .devkit_search/): vector search against faiss ----------------
def search_plan(args, device: str) -> list[tuple[str, list[str], float]]:
    """benchmarks/search_vs_faiss.py with embedkit on ``device``, then on the CPU; faiss-cpu on all cores in both.

    GloVe's vectors (80 MB) do not travel: ``--random-glove`` puts random unit vectors of their shape in their place
    (the row says "random unit"); Fashion-MNIST is the real data set."""
    cores = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2)
    size = ["--quick"] if args.dry_run else ["--queries", "1000", "--repeats", "3"]
    return [(f"vector search vs faiss-cpu ({cores} threads each), embedkit on {where}, GloVe replaced by random unit "
             f"vectors of its shape", ["benchmarks/search_vs_faiss.py", "--device", where, "--threads", cores,
                                       "--random-glove", *size], 120 if args.dry_run else 100)
            for where in dict.fromkeys([device, "cpu"])]  # once when the device is the CPU


def run_search(args, out: Path, env: dict, clock: Clock, device: str, results: list, report) -> None:
    """The search benchmark on ``device`` and on the CPU, logged to search.log (faiss comes from the search kit)."""
    run_benchmarks(args, out, env, clock, device, results, report, plan=search_plan(args, device), reserve=5,
                   log="search.log")
