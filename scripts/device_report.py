"""The GPU check's report: $OUT/device_report.md from the state the steps fill in (see device_check.py).

Rewritten after every step, so a run cut short still reports. A run of the
search step alone (``--only search``) writes $OUT/search_report.md instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

def report_name(state: dict) -> str:
    """device_report.md, or search_report.md for a run of the search step alone (a second device call)."""
    return "device_report.md" if state["main_steps"] else "search_report.md"


def benchmark_lines(entries: list[dict]) -> list[str]:
    """A subsection per benchmark command: its title, command line, exit, seconds and output."""
    lines = []
    for bench in entries:
        lines += [f"### {bench['title']}", "", f"`{bench['command']}`: exit {bench['exit']}, {bench['seconds']:.0f} s",
                  "", "```", bench["output"], "```", ""]
    return lines or ["(not run)", ""]


def write_report(out: Path, state: dict) -> Path:
    """Write the report of ``state`` (as far as the run got) under ``out``; return its path."""
    info, tests = state.get("machine", {}), state.get("tests")
    title = "Device check report" if state["main_steps"] else "Device check report: vector search against faiss"
    lines = [f"# {title}", "",
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
    if not state["main_steps"]:
        return _finish(out, state, lines)
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
    lines += ["## Benchmarks", ""] + benchmark_lines(state.get("benchmarks", []))
    jobs = max((row.get("jobs", 1) for row in state.get("chapters", [])), default=1)
    side_by_side = (f" {jobs} chapters ran side by side, sharing the GPU and the CPU cores, so their times include "
                    "the contention." if jobs > 1 else "")
    lines += ["## Chapters with EMBEDKIT_DEVICE=" + state["device"], "",
              "Each chapter's code cells run in order in a fresh Python process (no Jupyter on this machine; glue is "
              "a stub, figures go to Agg). 'stored CPU s' is the time the same cells took in the stored execution "
              "(2 CPU cores of the authors' machine), so the ratio mixes GPU and machine differences." + side_by_side,
              "",
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
    return _finish(out, state, [*lines, ""])


def _finish(out: Path, state: dict, lines: list[str]) -> Path:
    if "search" in state:
        lines += ["## Vector search against faiss (benchmarks/search_vs_faiss.py)", "",
                  "faiss-cpu runs on the CPU with all its cores in every row; embedkit runs on the device named in "
                  "each title. The GloVe rows use random unit vectors of GloVe's shape (400,000 x 50; the 80 MB of "
                  "vectors do not travel): exact search does the same work, but the IVF rows are not GloVe's: random "
                  "points have no clusters, so the same recall needs a larger nprobe.", ""] + benchmark_lines(state["search"])
    lines += ["## Not done here, and why", ""] + [f"- {n}" for n in state["not_done"]] + [""]
    path = out / report_name(state)
    path.write_text("\n".join(lines))
    return path
