"""Hogwild: Word2Vec's blocks of updates, written back without locks (Niu et al. 2011).

`embedkit.word2vec` updates a block of centre positions at once, not one word at
a time. The positions of a block lie evenly spread over the corpus: with ``L`` blocks
per epoch, block ``j`` holds positions ``j, j + L, j + 2L, ...``. That is how
word2vec.c runs with many threads: each thread walks its own stretch of the
file, so the words updated at the same moment lie far apart. (Neighbouring
positions in one block would be a bad idea: their windows overlap, so the same
word gets many correlated updates at once; on the Wikipedia slice that costs
about 0.05-0.15 in WordSim-353 correlation.) Each block gathers its vectors,
computes all gradients from the same parameters, and scatters them back with
``index_add_`` (like the C threads writing at once, "Hogwild").

- `default_block`: the centre positions per block, by mode and device (too
  many, and frequent words diverge).
- `hogwild`: runs an epoch's blocks. With ``workers=2`` (CPU only) two Python
  threads train every other block at once, one core each (torch releases the
  GIL inside its operations): as gensim's workers, faster and not reproducible
  run to run. The default, one worker, gives the same vectors for the same seed.

Left out: locks and atomic updates (two threads may both update one frequent
word, and one update can overwrite the other: the bet Hogwild makes), worker
processes (threads share the vectors without copies), handing out blocks by load
(worker t takes every ``workers``-th block), and workers on a GPU (there
`embedkit.word2vec_graph` keeps the device busy instead).
"""

from __future__ import annotations

from typing import Callable

import torch

from .parallel import side_by_side
from .progress import progress


def default_block(sg: bool, shared_negatives: bool, device: torch.device) -> int:
    """Centre positions per update when the config leaves ``block`` out, by mode and device.

    On a CPU, the fastest measured: 256 (skip-gram), 512 (shared negatives), 1,024 (CBOW). On a GPU,
    larger blocks give each kernel enough work: 2,048 for both. Frequent words diverge when a block sums
    too many of their updates: on the Wikipedia slice, skip-gram at 4,096 and CBOW at 8,192 on the CPU,
    and CBOW at 4,096 on an H200 (10 epochs; other random draws than the CPU's).
    """
    if device.type == "cpu":
        return (512 if shared_negatives else 256) if sg else 1024
    return 2048


def hogwild(run: Callable[[range], tuple[torch.Tensor, int]], n_blocks: int, workers: int,
            desc: str) -> list[tuple[torch.Tensor, int]]:
    """Run the blocks ``0..n_blocks-1``: worker t takes every ``workers``-th block, in its own thread.

    One worker runs them in order in this thread (reproducible). More workers write the shared vectors
    without locks, as word2vec.c's threads do (Niu et al. 2011); torch releases the GIL inside each
    operation, so each thread keeps one core busy. Returns each worker's ``run`` result.
    """
    shares = [range(t, n_blocks, workers) for t in range(workers)]
    first = progress(shares[0], total=len(shares[0]), desc=desc)
    if workers == 1:
        return [run(first)]
    # each worker thread runs its own blocks, one core each
    return side_by_side(run, [first, *shares[1:]], device="cpu", workers=workers)
