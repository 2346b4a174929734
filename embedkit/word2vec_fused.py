"""Skip-gram blocks in two fused kernels (triton): a GPU path for `embedkit.word2vec_graph`.

A fixed-shape skip-gram block (`FixedBlocks`) is about forty small torch
kernels: gathers of the rows it reads, products, a loss, the gradients, two
``index_add_``. On an H200 (2026-11-28) one block of 2,048 centres took
0.26 ms of kernel time, each kernel 2-30 us, too little work to fill the GPU.
Here a block is two kernels; each program takes a few (context word, centre word)
pairs (``PAIRS_PER_PROGRAM``) and, for each:

1. ``_score``: read the context word's input vector ``h`` and the output
   vectors ``u_0..u_k`` of the centre word and its ``k`` noise words; compute
   the scores ``s_i = u_i . h``, the loss, and the scaled gradients
   ``g_i = lr (y_i - sigmoid(s_i))`` (``y_0 = 1``, else 0; a noise word equal to
   the centre word gets ``g = 0``, as in the C tool); keep ``h``,
   ``sum_i g_i u_i`` and the ``g_i``.
2. ``_apply``: add ``g_i h`` to each ``u_i`` and ``sum_i g_i u_i`` to ``h``'s row,
   with atomic adds.

Every gradient of a block is computed before any vector changes, as in
`FixedBlocks._pairs`: for the same noise words, the updates are the same, up to
the order in which the atomic adds sum (the tests compare them on a CPU, where
triton's interpreter runs the kernels one program at a time, slowly). The block
number and learning rate are read on the device, so a block still replays as one
CUDA graph. Noise words are still drawn by torch, from the model's generator.

Left out: CBOW, shared negatives and ``pairs_per_draw`` (use the torch blocks);
tuning of the launch (about 4,096 tile elements per program on CUDA is a guess, with
triton's default warps; the benchmark's ``--fused-pairs`` tries other pair counts). Not yet run on a GPU:
whether it beats the torch blocks there is for the device check to measure.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import torch

tl: Any = None  # triton.language, imported by `kernels`: triton is optional (CUDA builds of torch bring it)

if TYPE_CHECKING:
    from .word2vec_graph import FixedBlocks

_KERNELS: dict[bool, tuple[Any, Any]] = {}  # interpreted or compiled: (score, apply)
# pairs one program handles: on CUDA None picks about 4,096 tile elements (PAIRS x BLOCK_K x BLOCK_D: 4 pairs at dim
# 100 and 5 noise words, a guess; above it registers run out); the interpreter: more, as each program is a Python call
PAIRS_PER_PROGRAM: dict[str, int | None] = {"cuda": None, "cpu": 64}


def _score(w_in, w_out, inputs, targets, noise, rates, j_ptr, n, n_blocks, rows,
           h_buf, gh_buf, g_buf, cand_buf, word_buf, loss_buf, count_buf,
           K: tl.constexpr, DIM: tl.constexpr, PAIRS: tl.constexpr, BLOCK_K: tl.constexpr,
           BLOCK_D: tl.constexpr):
    """Program p: the pairs ``q = p * PAIRS ...`` of block j, pair ``q * n_blocks + j`` of the epoch each;
    scores, loss and gradients, no update."""
    q = tl.program_id(0) * PAIRS + tl.arange(0, PAIRS)
    j = tl.load(j_ptr)
    row = q * n_blocks + j
    qm = q < rows  # the last program's tail: no pair
    inside = (row < n) & qm  # a block one short: its spare last pair reads a real one, changes nothing
    row = tl.minimum(row, n - 1)
    q = tl.minimum(q, rows - 1)
    lr = tl.load(rates + j)
    word, target = tl.load(inputs + row), tl.load(targets + row)  # (PAIRS,)
    d, k = tl.arange(0, BLOCK_D), tl.arange(0, BLOCK_K)
    dm, km = d < DIM, k <= K  # slot 0: the centre word; 1..K: noise words
    noisy = tl.load(noise + q[:, None] * (K + 1) + k[None, :], mask=(km & (k > 0))[None, :], other=0)
    cand = tl.where(k[None, :] == 0, target[:, None], noisy)  # (PAIRS, BLOCK_K)
    valid = km[None, :] & ((k[None, :] == 0) | (cand != target[:, None])) & inside[:, None]
    h = tl.load(w_in + word[:, None] * DIM + d[None, :], mask=dm[None, :], other=0.0)  # (PAIRS, BLOCK_D)
    u = tl.load(w_out + cand[:, :, None] * DIM + d[None, None, :],
                mask=km[None, :, None] & dm[None, None, :], other=0.0)  # (PAIRS, BLOCK_K, BLOCK_D)
    s = tl.sum(u * h[:, None, :], axis=2)
    y = (k[None, :] == 0).to(tl.float32)
    loss = tl.maximum(s, 0.0) - s * y + tl.log(1.0 + tl.exp(-tl.abs(s)))  # binary cross-entropy with logits
    g = (y - tl.sigmoid(s)) * tl.where(valid, lr, 0.0)
    pd, pk = q[:, None] * DIM + d[None, :], q[:, None] * BLOCK_K + k[None, :]
    qd = qm[:, None] & dm[None, :]
    tl.store(h_buf + pd, h, mask=qd)
    tl.store(gh_buf + pd, tl.sum(g[:, :, None] * u, axis=1), mask=qd)
    tl.store(g_buf + pk, g, mask=qm[:, None])
    tl.store(cand_buf + pk, cand, mask=qm[:, None])
    tl.store(word_buf + q, word, mask=qm)
    pair_loss = tl.sum(tl.where(valid, loss, 0.0), axis=1).to(tl.float64)
    tl.store(loss_buf + q, tl.load(loss_buf + q) + pair_loss, mask=qm)
    tl.store(count_buf + q, tl.load(count_buf + q) + inside.to(tl.int64), mask=qm)


def _apply(w_in, w_out, h_buf, gh_buf, g_buf, cand_buf, word_buf, rows, DIM: tl.constexpr,
           PAIRS: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_D: tl.constexpr):
    """Program p: add the updates of pairs ``p * PAIRS ...`` to the output vectors they scored and to their
    input vectors."""
    q = tl.program_id(0) * PAIRS + tl.arange(0, PAIRS)
    qm = q < rows
    q = tl.minimum(q, rows - 1)
    d, k = tl.arange(0, BLOCK_D), tl.arange(0, BLOCK_K)
    dm = d < DIM
    pd, pk = q[:, None] * DIM + d[None, :], q[:, None] * BLOCK_K + k[None, :]
    g, cand = tl.load(g_buf + pk), tl.load(cand_buf + pk)  # (PAIRS, BLOCK_K)
    h = tl.load(h_buf + pd, mask=dm[None, :], other=0.0)
    tl.atomic_add(w_out + cand[:, :, None] * DIM + d[None, None, :], g[:, :, None] * h[:, None, :],
                  mask=((g != 0) & qm[:, None])[:, :, None] & dm[None, None, :], sem="relaxed")
    word = tl.load(word_buf + q)
    tl.atomic_add(w_in + word[:, None] * DIM + d[None, :], tl.load(gh_buf + pd, mask=dm[None, :], other=0.0),
                  mask=qm[:, None] & dm[None, :], sem="relaxed")


def kernels(interpret: bool) -> tuple[Any, Any]:
    """The two kernels, compiled for the GPU or, with ``interpret``, run by triton's interpreter (CPU tensors).

    The interpreter needs triton's own library functions (``tl.sum``, ``tl.sigmoid``) made for it, which
    happens when triton is imported under ``TRITON_INTERPRET=1``: the first CPU call sets it for the
    process (triton reads it again later); a process that imported triton otherwise runs them on a GPU only,
    and one that set it runs them on the CPU only. Raises ImportError, saying what
    to install, when triton is missing, and RuntimeError for a mixed case."""
    global tl
    if interpret not in _KERNELS:
        if interpret and "triton.language" not in sys.modules:  # triton reads it again later: it stays set
            os.environ["TRITON_INTERPRET"] = "1"
        try:
            import triton
            import triton.language
        except ImportError as err:
            raise ImportError("fused=True needs triton (CUDA builds of torch on Linux bring it; else `pip install "
                              "triton`); or leave fused=False for the torch blocks.") from err
        if interpret != (type(triton.language.sum).__name__ == "InterpretedFunction"):
            raise RuntimeError(
                "fused=True on the CPU runs triton's interpreter, but this process imported triton for a GPU: set "
                "TRITON_INTERPRET=1 before anything imports triton, or train on CUDA." if interpret else
                "fused=True on CUDA compiles triton kernels, but this process runs triton's interpreter "
                "(TRITON_INTERPRET=1, or an earlier fused run on the CPU): train in a process without it.")
        tl = triton.language  # the kernels' global
        if interpret:
            from triton.runtime.interpreter import InterpretedFunction as wrap
        else:  # DIM is a constant (aligned rows: vector loads and atomics); the sizes that change by epoch are not
            wrap = triton.jit(do_not_specialize=["n", "n_blocks", "rows"])
        _KERNELS[interpret] = (wrap(_score), wrap(_apply))
    return _KERNELS[interpret]


def tile(negative: int, dim: int) -> tuple[int, int]:
    """A program's tile per pair, (BLOCK_K, BLOCK_D): the centre word and the noise words, and the vector length,
    each padded to a power of two."""
    return 1 << negative.bit_length(), 1 << (dim - 1).bit_length()


def pairs_per_program(device: torch.device, negative: int, dim: int) -> int:
    """`PAIRS_PER_PROGRAM` for ``device``; on CUDA by default as many pairs as keep a program's tile of output
    vectors (pairs x BLOCK_K x BLOCK_D) at about 4,096 floats (at least one pair)."""
    pairs = PAIRS_PER_PROGRAM["cuda" if device.type == "cuda" else "cpu"]
    block_k, block_d = tile(negative, dim)
    return pairs if pairs is not None else max(1, 4096 // (block_k * block_d))


class FusedPairs:
    """The buffers of one epoch's fused skip-gram blocks; `step` trains block ``blocks.j`` (not moving it on)."""

    def __init__(self, blocks: "FixedBlocks", rows: int) -> None:
        m = blocks.model
        if m.w_in.dtype != torch.float32 or not (m.w_in.is_contiguous() and m.w_out.is_contiguous()):
            raise ValueError("fused=True needs contiguous float32 vectors, as Word2Vec makes them.")
        self.blocks, self.rows, self.k = blocks, rows, m.config.negative
        dev, d = m.device, m.w_in.shape[1]
        block_k, block_d = tile(self.k, d)
        pairs = pairs_per_program(dev, self.k, d)
        self.grid = (-(-rows // pairs),)  # the launch, the same for every block of the epoch
        self.sizes = dict(DIM=d, PAIRS=pairs, BLOCK_K=block_k, BLOCK_D=block_d)
        self.score, self.apply = kernels(interpret=dev.type != "cuda")
        self.h, self.gh = torch.empty(rows, d, device=dev), torch.empty(rows, d, device=dev)
        self.g = torch.empty(rows, block_k, device=dev)
        self.cand = torch.empty(rows, block_k, dtype=torch.long, device=dev)
        self.word = torch.empty(rows, dtype=torch.long, device=dev)
        self.loss = torch.zeros(rows, dtype=torch.float64, device=dev)  # per pair row, summed over the epoch's blocks
        self.count = torch.zeros(rows, dtype=torch.long, device=dev)

    def step(self) -> None:
        """Draw the block's noise words (as `FixedBlocks._pairs` does: one row of ``1 + k`` per pair, the first
        column unused) and run the two kernels; nothing is read back."""
        b, m = self.blocks, self.blocks.model
        noise = m.noise_words((self.rows, 1 + self.k))
        self.score[self.grid](m.w_in, m.w_out, b.inputs, b.targets, noise, b.rates, b.j, b.n, b.n_blocks, self.rows,
                              self.h, self.gh, self.g, self.cand, self.word, self.loss, self.count, K=self.k,
                              **self.sizes)
        self.apply[self.grid](m.w_in, m.w_out, self.h, self.gh, self.g, self.cand, self.word, self.rows, **self.sizes)
