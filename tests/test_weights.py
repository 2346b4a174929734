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


def _with_header(tmp_path, header: dict, data: bytes):
    import json
    import struct

    encoded = json.dumps(header).encode()
    path = tmp_path / "forged.safetensors"
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


@pytest.mark.parametrize("header, data, message", [
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}, b"\0" * 8, "bad header entry"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 8, "needs 8 bytes"),  # short
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "overlapping"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "starts at byte 4"),  # a hole
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 12, "cover 4 of 12"),  # padded
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "past the 4 data bytes"),  # truncated
    ({"a": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "bad header entry"),
    ({"a": [1, 2]}, b"", "bad header entry"),
])
def test_forged_offsets_are_refused(tmp_path, header, data, message):
    """Offsets are checked against dtype, shape, each other and the file size (the reference library's rules)."""
    with pytest.raises(DataIntegrityError, match=message):
        load_safetensors(_with_header(tmp_path, header, data))


@pytest.mark.parametrize("entry", [
    {"dtype": "F32", "shape": [True, 4], "data_offsets": [0, 16]},  # read as shape (1, 4) before
    {"dtype": "F16", "shape": [], "data_offsets": [False, 2]},
])
def test_bools_in_a_header_entry_are_refused(tmp_path, entry):
    with pytest.raises(DataIntegrityError, match=r"tensor 'a' has a bad header entry .*whole numbers.*re-create it"):
        load_safetensors(_with_header(tmp_path, {"a": entry}, b"\0" * entry["data_offsets"][1]))


def test_header_longer_than_the_file(tmp_path):
    (tmp_path / "short.safetensors").write_bytes(b"\xff\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(DataIntegrityError, match="header longer than the file"):
        load_safetensors(tmp_path / "short.safetensors")


def test_metadata_must_be_strings(tmp_path):
    with pytest.raises(TypeError, match=r"must be strings .*str\(value\)"):
        save_safetensors({"a": torch.zeros(2)}, tmp_path / "m.safetensors", {"n": 3})
    with pytest.raises(TypeError, match="must be strings"):
        save_safetensors({"a": torch.zeros(2)}, tmp_path / "m.safetensors", {3: "n"})
    assert not (tmp_path / "m.safetensors").exists()


def test_tensor_names_and_read_metadata_are_checked(tmp_path):
    with pytest.raises(ValueError, match="'__metadata__' .* rename it"):
        save_safetensors({"__metadata__": torch.zeros(2)}, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="tensor names must be strings; rename them"):
        save_safetensors({3: torch.zeros(2)}, tmp_path / "m.safetensors")
    path = _with_header(tmp_path, {"__metadata__": {"n": 3}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                        b"\0" * 4)
    with pytest.raises(DataIntegrityError, match="must map strings to strings"):
        load_safetensors(path)
