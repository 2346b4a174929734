"""Test-wide settings, applied before anything is collected or any kernel starts.

- Outbound network is blocked in this process and in every child process,
  notebook kernels included (tests/offline/sitecustomize.py, put on PYTHONPATH).
- Progress bars are off, so notebook outputs are reproducible.
- Notebook kernels (nbval) start under `embedkit.device.REPRODUCIBLE_CPU_ENV`:
  the CPU code paths the stored outputs were made with, the same on every
  x86-64 CPU with AVX2. The unit tests run as the machine chooses.
"""

import importlib.util
import os
from pathlib import Path

_OFFLINE = Path(__file__).parent / "tests" / "offline"
os.environ["EMBEDKIT_OFFLINE"] = "1"
os.environ["EMBEDKIT_PROGRESS"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(_OFFLINE), os.environ.get("PYTHONPATH")) if p)

_spec = importlib.util.spec_from_file_location("_embedkit_offline", _OFFLINE / "sitecustomize.py")
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))


def pytest_runtest_setup(item):
    """Before nbval starts a notebook's kernel, pin the CPU code paths for that process."""
    if item.path.suffix == ".ipynb":
        from embedkit.device import REPRODUCIBLE_CPU_ENV

        os.environ.update(REPRODUCIBLE_CPU_ENV)
