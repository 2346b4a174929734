"""The safetensors reader and writer: round trip, and agreement with the reference library both ways."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from embedkit.errors import DataIntegrityError, DataNotFoundError
from embedkit.weights import load_safetensors, save_safetensors

TENSORS = {"a": torch.randn(3, 4), "b.c": torch.arange(5, dtype=torch.int64), "d": torch.randn(2, 2).half(),
           "empty": torch.zeros(0, 3)}


def test_reads_what_the_reference_library_writes(tmp_path):
    save_file(TENSORS, tmp_path / "t.safetensors", metadata={"k": "v"})
    loaded, metadata = load_safetensors(tmp_path / "t.safetensors", with_metadata=True)
    assert set(loaded) == set(TENSORS) and all(torch.equal(loaded[k], v) for k, v in TENSORS.items())
    assert metadata == {"k": "v"}


def test_reference_library_reads_what_we_write(tmp_path):
    save_safetensors(TENSORS, tmp_path / "t.safetensors", {"note": "hi"})
    loaded = load_file(tmp_path / "t.safetensors")
    assert all(torch.equal(loaded[k], v) for k, v in TENSORS.items())
    assert load_safetensors(tmp_path / "t.safetensors", with_metadata=True)[1] == {"note": "hi"}


def test_bad_files(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{nope")
    with pytest.raises(DataIntegrityError, match="not a safetensors"):
        load_safetensors(tmp_path / "bad.safetensors")
    with pytest.raises(DataNotFoundError):
        load_safetensors(tmp_path / "missing.safetensors")
    with pytest.raises(TypeError, match="dtype"):
        save_safetensors({"x": torch.zeros(2, dtype=torch.float64)}, tmp_path / "x.safetensors")
