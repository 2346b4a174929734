import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from embedkit import DeviceUnavailableError, device, get_device, seed_everything
from embedkit.device import float64_device, seeded_generator


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (True, False, "cuda"),
                                                  (False, True, "mps"), (False, False, "cpu")])
def test_default_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.delenv("EMBEDKIT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(device, "mps_available", lambda: mps)
    assert get_device() == torch.device(expected)


def test_reproducible_cpu_env_takes_effect_in_a_new_process():
    """The pinned settings reach torch and numpy: AVX2 kernels, no AVX-512 loops in numpy, 2 threads, the CPU."""
    code = ("import torch, numpy, embedkit; from numpy._core._multiarray_umath import __cpu_features__ as f; "
            "print(torch.backends.cpu.get_cpu_capability(), f.get('X86_V4', False), torch.get_num_threads(), "
            "embedkit.get_device())")
    env = device.reproducible_cpu_env({k: v for k, v in os.environ.items() if k != "EMBEDKIT_DEVICE"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["AVX2", "False", "2", "cpu"]
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment is kept


def test_environment_variable_overrides_and_argument_overrides_it(monkeypatch):
    monkeypatch.setenv("EMBEDKIT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("EMBEDKIT_DEVICE", "nonsense-device")
    with pytest.raises(DeviceUnavailableError, match="EMBEDKIT_DEVICE"):
        get_device()
    assert get_device("cpu") == torch.device("cpu")  # the argument wins


def test_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("EMBEDKIT_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without CUDA
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU"):
        get_device("cuda")


def test_seed_everything_makes_runs_repeatable():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3).tolist()

    seed_everything(7)
    first = draw()
    generator = seed_everything(7)
    assert draw() == first
    assert torch.equal(torch.rand(2, generator=generator), torch.rand(2, generator=torch.Generator().manual_seed(7)))
    with pytest.raises(ValueError, match="seed must be a whole number of at least 0"):
        seed_everything(-1)


def test_seeded_generator_is_seeded_where_asked(device):
    """The generator every seeded draw in embedkit uses: on the device given, the same draws for the same seed (and
    the CPU's the same as a plain torch.Generator's), a clear error for a seed that is no whole number >= 0."""
    first = torch.rand(5, generator=seeded_generator(3, device), device=device)
    assert first.device.type == device
    assert torch.equal(first, torch.rand(5, generator=seeded_generator(3, device), device=device))
    assert not torch.equal(first, torch.rand(5, generator=seeded_generator(4, device), device=device))
    plain = torch.Generator().manual_seed(3)
    assert torch.equal(torch.rand(5, generator=seeded_generator(np.int64(3))), torch.rand(5, generator=plain))
    for bad in (-1, 2.5, "3", True):
        with pytest.raises(ValueError, match="seed must be a whole number of at least 0"):
            seeded_generator(bad)


def test_seeded_generator_without_a_device_is_a_plain_generator(monkeypatch):
    """scripts/seed_sweep.py shifts the seeds of generators made for a device (a model's draws, which a GPU makes
    differently) and keeps those made without one (data splits and orders, the same on every machine): the
    generator for the second kind must be made as torch.Generator(), with no device argument."""
    made, real = [], torch.Generator

    class Recording(real):
        def __new__(cls, device=None):
            made.append(device)
            return real.__new__(cls) if device is None else real.__new__(cls, device=device)

    monkeypatch.setattr(torch, "Generator", Recording)
    seeded_generator(3)
    seeded_generator(3, "cpu")
    assert made == [None, "cpu"]


def test_float64_work_leaves_only_mps_for_the_cpu():
    assert float64_device("mps") == torch.device("cpu")
    assert float64_device("cuda:1") == torch.device("cuda:1")
    assert float64_device(torch.device("cpu")) == torch.device("cpu")


def test_widest_float_is_float32_only_on_mps():
    from embedkit.device import widest_float

    # MPS has no float64: sums that use float64 elsewhere (Word2Vec's loss, distance concentration) use float32 there
    assert widest_float("cpu") == widest_float(torch.device("cuda")) == torch.float64
    assert widest_float("mps") == torch.float32
