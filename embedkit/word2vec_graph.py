"""Word2Vec blocks of one fixed shape, replayed as a CUDA graph: a GPU path for `embedkit.word2vec`.

`Word2Vec`'s step methods keep only the context words of a block (a boolean
mask picks them), so the number of pairs, and with it every shape, changes from
block to block, and the CPU reads that number back from the GPU once a block.
A block is little arithmetic (2,048 centres on a GPU), yet on an H200
(2026-11-26) it took about 0.75 ms, for about 2x gensim's words per second on
16 CPU cores: time that, we expect, goes to launching a few dozen kernels and
to that wait rather than to the arithmetic.

Here every block of an epoch has the same shapes. Skip-gram's examples are
(context word, centre word) pairs, each with its own noise words: the epoch's
pairs are listed once, in corpus order (one read-back per epoch, for their
number), and block ``j`` trains the pairs ``j, j + n_blocks, ...``: the pairs of
about ``block`` centres, as in the step method. CBOW's examples, and those of
skip-gram with shared negatives, are windows: a block holds ``ceil(n / n_blocks)``
centres (at most ``block``), and all ``2 * window + 1`` slots of each take part;
the slots that hold no context word (beyond the centre's reach, across a
sentence border, the centre itself) get weight zero, so they change no vector
and add no loss. Where a block is one row short, a spare row reads a real
example and is masked out the same way. Nothing is read back during the epoch. On
CUDA, after a few blocks run as usual, the kernels of one block are captured
once per epoch as a CUDA graph and replayed for every further block: one launch
per block, and the CPU never waits. The block number is a counter on the
device that each block reads and moves on, and each block reads its learning
rate from a table of the epoch's rates, so a replay needs no input from the CPU.

For the same noise words the updates equal the step methods' (the tests check
it on a CPU). The draws differ: the blocks group the pairs differently, and
masked slots and spare rows draw noise words that are wasted. On a CPU the
fixed-shape blocks run without a graph; the window blocks compute their masked
slots too, so the CPU keeps the step methods by default.

``pairs_per_draw`` (skip-gram): each run of that many pairs of a block shares
one draw of ``negative`` noise words, as a window's context words do with
``shared_negatives``. Each pair still scores ``negative`` noise words, but a
block gathers and updates ``negative / pairs_per_draw`` noise vectors per pair
instead of ``negative``, and batched products score them: less memory traffic,
which the profile below says is what bounds the GPU. The pairs of a group come
from far apart in the corpus (block ``j`` holds every ``n_blocks``-th pair).
On the book's 2-core CPU (2026-11-29, Wikipedia slice, dim 100, 5 epochs,
block 256), 8 pairs per draw trained 238,000 words/s against 122,000 with one
draw per pair (gensim on one thread: 260,000-271,000 in the same runs), with
the same WordSim-353 rho (0.270) and analogy accuracy 2.26% against 2.11%; the
tests hold it to the gensim comparison's bounds. Not yet measured on a GPU.

Measured on an H200 (2026-11-28, skip-gram, dim 100, 5 epochs, block 2,048,
gensim on 16 CPU cores): 4.7x gensim's words per second on the Wikipedia slice
(2.6x for the step methods in the same run), 2.8x on the news corpus (1.6x).
One epoch of the slice took 50 ms, of which the profiler counts 40 ms of
kernels (151 blocks): now the kernels bound it, chiefly the gathers of the rows
a block reads and the ``index_add_`` of their updates. The issue's goal, 20x,
would need about a third of that kernel time: ``fused=True`` (skip-gram) runs each
block in two triton kernels instead (`embedkit.word2vec_fused`), not yet measured on a GPU.

Left out: ``on_block`` callbacks and several workers (the loop runs on the
device), and one graph for all epochs (subsampling gives each epoch another
number of positions, so each epoch captures its own).
"""

from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Callable

import torch

from .progress import progress
from .word2vec_fused import FusedPairs

if TYPE_CHECKING:
    from .word2vec import Word2Vec

WARMUP = 3  # blocks run before the capture, on a side stream (lazy set-up must not happen inside a capture)


class FixedBlocks:
    """One epoch of a `Word2Vec` model's blocks, all of one shape: `step` trains block ``j`` (a counter on the
    device) at rate ``rates[j]`` and moves ``j`` on; `run` trains them all, on CUDA by replaying a captured graph."""

    def __init__(self, model: "Word2Vec", ids: torch.Tensor, context: torch.Tensor, n_blocks: int) -> None:
        """``ids`` and ``context``: the epoch's corpus as laid out by `Word2Vec.windows`; block ``j`` holds the
        examples (skip-gram: pairs; else centre positions) ``j, j + n_blocks, j + 2 n_blocks, ...``:
        ``ceil(n / n_blocks)`` of them, or one fewer."""
        self.model, self.ids, self.context, self.n_blocks = model, ids, context, n_blocks
        dev, c = model.device, model.config
        self.slots = torch.arange(2 * c.window + 1, device=dev)
        self.pairs = c.sg and not c.shared_negatives  # skip-gram's examples are pairs, not windows
        if self.pairs:  # the epoch's (context, centre) pairs in corpus order; nonzero reads their number back, once
            position, slot = context.nonzero(as_tuple=True)
            self.inputs, self.targets = ids[position + slot], ids[position + c.window]
        self.n = len(self.inputs) if self.pairs else len(context)
        self.group = c.pairs_per_draw if self.pairs else 1  # pairs that share one draw of noise words
        rows = -(-self.n // n_blocks)  # the longest block, in whole groups
        rows = -(-rows // self.group) * self.group
        self.update = self._windows if not self.pairs else self._pairs if self.group == 1 else self._grouped_pairs
        self.fused = FusedPairs(self, rows) if c.fused else None  # skip-gram in two triton kernels per block
        self.offsets = torch.arange(rows, device=dev) * n_blocks  # block j: positions j + offsets
        self.j = torch.zeros((), dtype=torch.long, device=dev)
        self.rates = torch.zeros(n_blocks, device=dev)  # the learning rate of each block
        self.loss = torch.zeros((), dtype=torch.float32 if dev.type == "mps" else torch.float64, device=dev)
        self.examples = torch.zeros((), dtype=torch.long, device=dev)

    def step(self) -> None:
        """Train block ``self.j`` at rate ``self.rates[self.j]``; add to ``self.loss`` and ``self.examples``; move
        ``self.j`` on. No shape depends on the data, and nothing is read back."""
        if self.fused is not None:  # its kernels read j and the rate themselves
            self.fused.step()
            self.j += 1
            return
        lr = self.rates.index_select(0, self.j.view(1)).view(())  # not rates[j]: that reads j back to Python
        rows = self.offsets + self.j
        inside = rows < self.n  # a block one short has a spare last row: it reads a real example, masked out
        rows = rows.clamp_max(max(self.n - 1, 0))
        loss, examples = self.update(rows, inside, lr)
        self.loss += loss
        self.examples += examples
        self.j += 1

    def _pairs(self, rows: torch.Tensor, inside: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Skip-gram: the pairs ``rows`` (context word -> centre word), each with its own noise words."""
        m = self.model
        inputs, targets = self.inputs[rows], self.targets[rows]
        grad, loss = m.negative_sampling(m.w_in.index_select(0, inputs)[:, None], targets, lr, inside[:, None])
        m.w_in.index_add_(0, inputs, grad[:, 0])
        return loss, inside.sum()

    def _grouped_pairs(self, rows: torch.Tensor, inside: torch.Tensor,
                       lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Skip-gram pairs as `_pairs`, but each run of ``group`` pairs shares one draw of ``negative`` noise words:
        one gather of noise vectors per group instead of per pair, and batched products score them."""
        m, g, k = self.model, self.group, self.model.config.negative
        inputs, targets = self.inputs[rows], self.targets[rows]
        h, u = m.w_in.index_select(0, inputs), m.w_out.index_select(0, targets)  # (P, d): inputs, true words
        noise = m.noise_words((len(rows) // g, k))  # (P / g, k)
        v = m.w_out.index_select(0, noise.view(-1)).view(*noise.shape, -1)  # (P / g, k, d)
        hg = h.view(len(noise), g, -1)
        positive, negative = (h * u).sum(dim=1), torch.bmm(hg, v.transpose(1, 2))  # (P,), (P / g, g, k)
        # as the C tool, a noise word equal to the pair's true word does not count
        valid = (noise[:, None, :] != targets.view(-1, g, 1)) & inside.view(-1, g, 1)
        f = torch.nn.functional.binary_cross_entropy_with_logits
        loss = (f(positive, torch.ones_like(positive), inside, reduction="sum")
                + f(negative, torch.zeros_like(negative), valid, reduction="sum"))
        g_pos = (1 - torch.sigmoid(positive)) * (inside * lr)  # gradient of the log-likelihood, times the rate
        g_neg = -torch.sigmoid(negative) * (valid * lr)
        grad_h = g_pos[:, None] * u + torch.bmm(g_neg, v).view_as(h)
        grad_v = torch.bmm(g_neg.transpose(1, 2), hg).view(-1, h.shape[1])  # (P / g * k, d)
        m.w_out.index_add_(0, torch.cat([targets, noise.view(-1)]), torch.cat([g_pos[:, None] * h, grad_v]))
        m.w_in.index_add_(0, inputs, grad_h)
        return loss, inside.sum()

    def _windows(self, rows: torch.Tensor, inside: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CBOW or skip-gram with shared negatives: the windows of the centre positions ``rows``, all
        ``2 * window + 1`` slots of each, the slots that hold no context word weighted zero."""
        m, w, d = self.model, self.model.config.window, self.model.w_in.shape[1]
        words = self.ids[rows[:, None] + self.slots]  # (B, 2w + 1): each centre's window
        mask = self.context[rows] & inside[:, None]  # which slots hold a context word
        targets = words[:, w]
        if self.model.config.sg:  # one noise draw per window (masked slots get zero gradient)
            grad, loss = m.negative_sampling(m.w_in[words], targets, lr, mask)
            m.w_in.index_add_(0, words.reshape(-1), grad.reshape(-1, d))
            return loss, mask.sum()
        count = mask.sum(dim=1)  # CBOW: the mean of the context vectors predicts the centre word
        has_context = count > 0
        h = (m.w_in[words] * mask[..., None]).sum(dim=1) / count.clamp_min(1)[:, None]
        grad, loss = m.negative_sampling(h[:, None], targets, lr, has_context[:, None])
        m.w_in.index_add_(0, words.reshape(-1), (grad[:, 0, None] * mask[..., None]).reshape(-1, d))
        return loss, has_context.sum()

    def run(self, rate: Callable[[int], float], graph: bool, desc: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Train blocks ``0 .. n_blocks - 1``, block ``j`` at ``rate(j)``; return the summed loss and the number of
        examples (tensors on the device: reading them waits for the GPU). ``graph`` (CUDA only): after `WARMUP`
        blocks, capture one block as a CUDA graph and replay it for the rest: one launch per block."""
        self.rates.copy_(torch.tensor([rate(j) for j in range(self.n_blocks)]))
        self.j.zero_()
        blocks = iter(progress(range(self.n_blocks), total=self.n_blocks, desc=desc))
        if not graph:
            for _ in blocks:
                self.step()
            return self.totals()
        with torch.cuda.device(self.model.device):  # the capture stream belongs to the current device
            current = torch.cuda.current_stream()
            side = torch.cuda.Stream()
            side.wait_stream(current)
            with torch.cuda.stream(side):  # as torch's CUDA-graph guide asks: warm up on a side stream
                for _ in islice(blocks, WARMUP):
                    self.step()
            current.wait_stream(side)
            if self.n_blocks > WARMUP:
                captured = torch.cuda.CUDAGraph()
                captured.register_generator_state(self.model.generator)  # noise draws advance on every replay
                with torch.cuda.graph(captured):  # records the kernels of one block; runs nothing
                    self.step()
                for _ in blocks:
                    captured.replay()
        return self.totals()

    def totals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's summed loss and number of examples (fused blocks keep theirs per pair row)."""
        if self.fused is None:
            return self.loss, self.examples
        return self.loss + self.fused.loss.sum(), self.examples + self.fused.count.sum()
