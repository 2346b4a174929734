"""scripts/seed_sweep.py: the draws a GPU changes are shifted, the CPU-side ones are not, and failing checks are listed."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import seed_sweep  # noqa: E402  (scripts/ is not a package)

DRAWS = """
import json
import torch
device_gen = torch.rand(3, generator=torch.Generator(device="cpu").manual_seed(0)).tolist()
cpu_gen = torch.rand(3, generator=torch.Generator().manual_seed(0)).tolist()
torch.manual_seed(0)
global_draw = torch.rand(3).tolist()
print(json.dumps([device_gen, cpu_gen, global_draw]))
"""


def draws(shift: int | None) -> list[list[float]]:
    """The three draws of DRAWS in a fresh interpreter, with the sweep's patch run first (None: without it)."""
    code = ("" if shift is None else seed_sweep.PATCH.format(shift=shift)) + DRAWS
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_the_patch_shifts_device_generators_and_the_global_seed_only():
    import torch

    plain, shifted = draws(None), draws(7)
    expected_shifted = torch.rand(3, generator=torch.Generator().manual_seed(7)).tolist()
    assert shifted[0] == expected_shifted != plain[0]  # a generator made for a device: seed 0 + 7
    assert shifted[1] == plain[1]  # a generator made without a device keeps its seed
    assert shifted[2] == expected_shifted != plain[2]  # torch.manual_seed(0) seeds as 7
    assert draws(0) == plain


CHAPTER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---

# A chapter with one check that holds for one draw only

```{code-cell} ipython3
import torch
first = torch.rand(1, generator=torch.Generator(device="cpu").manual_seed(0)).item()
assert abs(first - %r) < 1e-6, "the text names this draw"
```

```{code-cell} ipython3
split = torch.rand(1, generator=torch.Generator().manual_seed(0)).item()
assert abs(split - %r) < 1e-6, "the split is drawn on the CPU on every machine"
```
"""


def test_a_check_that_holds_for_one_draw_only_is_listed(tmp_path):
    import torch

    value = torch.rand(1, generator=torch.Generator().manual_seed(0)).item()
    source = tmp_path / "01_tiny.md"
    source.write_text(CHAPTER % (value, value))
    assert seed_sweep.sweep(source, 0)[0] == []
    errors, _ = seed_sweep.sweep(source, 7)
    assert [(cell, name) for cell, name, _ in errors] == [(2, "AssertionError")]  # the title is cell 1
    assert "the text names this draw" in errors[0][2]
