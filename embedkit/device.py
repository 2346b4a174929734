"""Where tensors live, and how to make runs repeatable.

`get_device` picks CUDA, then Apple's MPS, then the CPU. One environment
variable, ``EMBEDKIT_DEVICE`` (for example ``cpu`` or ``cuda:1``), overrides the
choice everywhere; an explicit ``device=`` argument overrides both.

`REPRODUCIBLE_CPU_ENV` lists the environment settings under which CPU float
results are bit-identical across x86-64 processors with AVX2 (with or without
AVX-512): each numerical library otherwise picks its code path, and so its
rounding, by the processor. They are read when a library loads, so they apply
to new processes only: the book's notebooks run under them in `make notebooks`
and `make test` (see `reproducible_cpu_env`).

Left out: multi-GPU placement and bit-exact determinism on GPUs (cuBLAS may
still reorder sums between runs; seeds make CPU runs exactly repeatable).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .errors import DeviceUnavailableError, check_whole

DEVICE_ENV_VAR = "EMBEDKIT_DEVICE"

#: Settings that make CPU results identical on every x86-64 CPU with AVX2, AVX-512 or not.
REPRODUCIBLE_CPU_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels (element-wise ops, reductions, Adam)
    "MKL_CBWR": "AVX2",  # MKL, torch's BLAS and LAPACK: its conditional numerical reproducibility mode
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN, torch's convolutions
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS, numpy's and scipy's BLAS
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's own loops (exp, argsort, partition)
    "OMP_NUM_THREADS": "2",  # sums split over threads round differently with another thread count
    DEVICE_ENV_VAR: "cpu",  # stored outputs are CPU outputs
}


def mps_available() -> bool:
    """Whether this torch build can use Apple's MPS backend on this machine."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Return the torch device to compute on.

    Order: the ``device`` argument, else ``$EMBEDKIT_DEVICE``, else CUDA, MPS, CPU.
    Raises `DeviceUnavailableError` when the requested device is not present.
    """
    source = "argument"
    if device is None and os.environ.get(DEVICE_ENV_VAR, "").strip():
        device, source = os.environ[DEVICE_ENV_VAR].strip(), f"${DEVICE_ENV_VAR}"
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceUnavailableError(
            f"{device!r} (from the {source}) is not a torch device name; use 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"{device!r} (from the {source}) asks for CUDA, but torch sees no CUDA GPU here; use 'cpu' or unset {DEVICE_ENV_VAR}."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"{device!r}: only {torch.cuda.device_count()} CUDA device(s) are present."
            )
    if dev.type == "mps" and not mps_available():
        raise DeviceUnavailableError(
            f"{device!r} (from the {source}) asks for MPS, which this machine does not have; use 'cpu'."
        )
    return dev


def reproducible_cpu_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Return a copy of ``environ`` (default: ``os.environ``) with `REPRODUCIBLE_CPU_ENV` applied.

    Pass it as the environment of a new process (a notebook kernel, a script):
    the settings are read when torch, MKL, OpenBLAS and numpy load.
    """
    return {**(os.environ if environ is None else environ), **REPRODUCIBLE_CPU_ENV}


def widest_float(device: torch.device) -> torch.dtype:
    """float64 for sums that must not round away, or float32 on MPS, which has no float64."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def float64_device(device: str | torch.device) -> torch.device:
    """Where float64 work on data held on ``device`` goes: ``device`` itself, or the CPU for MPS, which has no
    float64 (small solves and eigendecompositions: whitening, ridge probes)."""
    device = torch.device(device)
    return torch.device("cpu") if device.type == "mps" else device


def seeded_generator(seed: int, device: str | torch.device | None = None) -> torch.Generator:
    """A torch random generator seeded with ``seed`` (a whole number >= 0, else a ValueError that says so): what
    every seeded draw in embedkit uses, so that it does not depend on other draws before it.

    ``device=None``: a plain CPU generator, for draws that are the same on every machine (data splits, orders,
    data drawn on the CPU); a model's device for the model's own draws, which a GPU makes differently.
    `scripts/seed_sweep.py` tells the two apart by that argument and shifts only the second kind."""
    generator = torch.Generator() if device is None else torch.Generator(device=device)
    return generator.manual_seed(check_whole("seed", seed))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and all GPUs); return a seeded CPU generator.

    Use the returned generator for sampling that must not depend on what else
    consumed random numbers before it.
    """
    seed = check_whole("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    return seeded_generator(seed)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (needed before reading a timer)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
