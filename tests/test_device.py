import random

import numpy as np
import pytest
import torch

from embedkit import DeviceUnavailableError, get_device, seed_everything


def test_default_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("EMBEDKIT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_environment_variable_overrides_and_argument_overrides_it(monkeypatch):
    monkeypatch.setenv("EMBEDKIT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("EMBEDKIT_DEVICE", "nonsense-device")
    with pytest.raises(DeviceUnavailableError, match="EMBEDKIT_DEVICE"):
        get_device()
    assert get_device("cpu") == torch.device("cpu")  # the argument wins


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("EMBEDKIT_DEVICE", raising=False)
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
    with pytest.raises(ValueError):
        seed_everything(-1)
