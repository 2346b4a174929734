"""Word2Vec: skip-gram and CBOW with negative sampling (Mikolov et al. 2013a, 2013b), batched in torch.

Training follows the reference C tool (and gensim) step for step, but updates
a block of centre positions at once (256 to 1,024 on a CPU, 2,048 on a GPU)
instead of one word at a time:

- frequent words are dropped at random before each epoch (subsampling);
- each position draws its own window size, uniform in 1..``window`` (the
  "dynamic window" that weights near words more);
- skip-gram: every (context word -> centre word) pair in the window is one
  logistic-regression example; CBOW: the mean of the context vectors predicts
  the centre word, and its gradient is added to every context vector;
- ``negative`` noise words per example are drawn from unigram^0.75;
  with ``shared_negatives=True`` (skip-gram only) one draw of noise words
  serves all the context words of a centre position, so one batched product
  scores the whole window: faster (chapter 14 measures by how much), not the C tool's
  sampling (each pair still sees noise words from the same distribution, but
  the pairs of one window see the same ones);
- plain SGD with a learning rate falling linearly from ``alpha`` to
  ``alpha * 1e-4`` over all epochs; input vectors start uniform in
  ``±0.5 / dim``, output vectors at zero.

A block's gradients all come from the same parameters, with no Python loop per
word; `embedkit.hogwild` lays blocks out, sizes them and runs ``workers`` threads.
On a GPU, ``graph=True`` trains blocks of one fixed shape, replayed as a CUDA graph
(`embedkit.word2vec_graph`): no wait for the GPU per block; with it,
``pairs_per_draw`` lets several skip-gram pairs share one draw of noise words, and
``fused`` trains each skip-gram block in two triton kernels (`embedkit.word2vec_fused`).

Left out: hierarchical softmax, phrases, and sub-word vectors (fastText).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from .device import get_device, seeded_generator, widest_float
from .errors import (EmptyInputError, ShapeError, UnknownIDError, check_finite, check_flag, check_positive, check_ids,
                     check_whole)
from .hogwild import default_block, hogwild
from .table import EmbeddingTable
from .vocab import Vocabulary
from .train import History
from .word2vec_graph import FixedBlocks


@dataclass
class Word2VecConfig:
    """Hyperparameters, named as in gensim's ``Word2Vec`` (``dim`` is its ``vector_size``).

    Defaults are gensim's except: ``sg`` (skip-gram; gensim's default is CBOW), ``seed`` (0; gensim's 1),
    ``alpha`` (by mode, as in the C tool; gensim uses 0.025 for both), ``min_alpha`` (relative to alpha;
    gensim's is absolute, 1e-4), ``workers`` (1, reproducible; gensim's 3), and ``shared_negatives``,
    ``block``, ``graph`` and ``pairs_per_draw``, which gensim does not have (``block`` None: `default_block`;
    ``graph``: blocks of one shape from `embedkit.word2vec_graph`, replayed as a CUDA graph on a GPU).

    Raises ValueError for a setting out of range (a size below 1, an ``alpha`` that is not a positive number).
    """

    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    min_count: int = 5
    epochs: int = 5
    sg: bool = True  # skip-gram; False means CBOW
    alpha: float | None = None  # None: 0.025 for skip-gram, 0.05 for CBOW (the C tool's defaults)
    min_alpha: float = 1e-4  # final rate, relative to alpha as in the C tool
    shared_negatives: bool = False  # skip-gram: one draw of noise words per window instead of per pair
    workers: int = 1  # CPU threads training blocks at once (Hogwild; gensim: 3); > 1 is faster, not reproducible
    block: int | None = None  # centre positions updated at once; None: `default_block` for the model's device
    graph: bool = False  # blocks of one shape, no wait per block; on CUDA replayed as a graph (`word2vec_graph`)
    pairs_per_draw: int = 1  # graph skip-gram: pairs of a block that share one draw of noise words (1: C tool's)
    fused: bool = False  # graph skip-gram: each block in two triton kernels (`word2vec_fused`; needs triton)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("sg", "shared_negatives", "graph", "fused"):  # sg="false" would read as True
            setattr(self, name, check_flag(name, getattr(self, name)))
        self.seed = check_whole("seed", self.seed)
        if self.shared_negatives and not self.sg:
            raise ValueError("shared_negatives applies to skip-gram only: CBOW already draws one set per window.")
        for name in ("dim", "window", "epochs", "min_count", "workers", "pairs_per_draw"):
            setattr(self, name, check_positive(name, getattr(self, name)))
        if self.pairs_per_draw > 1 and not (self.graph and self.sg and not self.shared_negatives):
            raise ValueError("pairs_per_draw > 1 groups the pairs of graph=True skip-gram (without shared_negatives);"
                             " set graph=True, sg=True, shared_negatives=False, or leave pairs_per_draw at 1.")
        if self.fused and not (self.graph and self.sg and not self.shared_negatives and self.pairs_per_draw == 1):
            raise ValueError("fused=True fuses the blocks of graph=True skip-gram, one draw of noise words per pair; "
                             "set graph=True, sg=True, shared_negatives=False, pairs_per_draw=1, or leave fused off.")
        if self.block is not None:
            self.block = check_positive("block (or None for the device's default)", self.block)
        self.negative = check_positive("negative (this implementation trains by negative sampling)", self.negative)
        check_finite("sample (the subsampling threshold)", self.sample, allow_zero=True,
                     hint=" Use 0 to keep every word.")
        check_finite("min_alpha (the final learning rate, relative to alpha)", self.min_alpha, allow_zero=True)
        if self.alpha is None:
            self.alpha = 0.025 if self.sg else 0.05
        else:  # 0 would train nothing, < 0 climb the loss
            check_finite("alpha (the learning rate)", self.alpha,
                         hint=" Leave it out (None) for the C tool's default.")


def _gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` for an index of any shape: ``index.shape + (dim,)``."""
    return table.index_select(0, index.reshape(-1)).view(*index.shape, table.shape[1])


class Word2Vec:
    """Input (word) vectors and output (context) vectors of a skip-gram or CBOW model."""

    def __init__(self, vocab: Vocabulary, config: Word2VecConfig | None = None,
                 device: str | torch.device | None = None) -> None:
        self.vocab, self.config = vocab, config or Word2VecConfig()
        self.device = get_device(device)
        c = self.config
        self.block = c.block or default_block(c.sg, c.shared_negatives, self.device)
        self.generator = seeded_generator(c.seed, self.device)
        v = len(vocab)
        self.w_in = ((torch.rand(v, c.dim, generator=self.generator, device=self.device) - 0.5) / c.dim)
        self.w_out = torch.zeros(v, c.dim, device=self.device)
        # a table of word ids in proportion to unigram^0.75, as word2vec.c's 1e8-entry table
        noise = vocab.noise_distribution()
        size = max(10 * v, 1_000_000)
        self._noise_table = torch.repeat_interleave(
            torch.arange(v), (noise * size).round().long().clamp_min(1)).to(self.device)
        self._keep = vocab.keep_probabilities(c.sample).float().to(self.device)
        # distance of each window slot from the centre; the centre slot gets window + 1, beyond any reach
        self._distance = torch.arange(-c.window, c.window + 1, device=self.device).abs()
        self._distance[c.window] = c.window + 1
        self._label = torch.zeros(1 + c.negative, device=self.device)
        self._label[0] = 1
        # gensim skips a term whose score lies beyond its sigmoid table (+-6); word2vec.c and we update it.
        # scripts/word2vec_block.py sets 6 here to test whether that matters; None: no skip
        self._skip_beyond: float | None = None
        # one update rule per mode, each a method below
        self.step = self.cbow_step if not c.sg else self.skipgram_shared_step if c.shared_negatives else self.skipgram_step

    def table(self) -> EmbeddingTable:
        """The trained input vectors as an `EmbeddingTable` (what gensim calls ``model.wv``), a copy."""
        return EmbeddingTable(self.vocab.words, self.w_in, self.device)

    def noise_words(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Word ids drawn from the noise distribution (unigram^0.75), in a tensor of ``shape``."""
        picks = torch.randint(len(self._noise_table), shape, generator=self.generator, device=self.device)
        return self._noise_table.index_select(0, picks.reshape(-1)).view(shape)

    def negative_sampling(
        self, h: torch.Tensor, targets: torch.Tensor, lr: float,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One negative-sampling update of the output vectors: the ``m`` hidden vectors
        ``h[i]`` (n, m, d) all predict ``targets[i]`` against the same noise words
        (``mask`` (n, m) drops padding rows).

        Returns the gradient for ``h`` (already times the rate) and the summed loss (a
        tensor: reading it would make a GPU wait, so it is only read once per epoch).
        """
        candidates = self.noise_words((len(targets), 1 + self.config.negative))
        candidates[:, 0] = targets  # (n, 1 + k): the true word, then the noise words
        u = _gather(self.w_out, candidates)  # (n, 1 + k, d)
        score = torch.bmm(u, h.transpose(1, 2)).transpose(1, 2)  # (n, m, 1 + k)
        # the scores that count: all but a noise word equal to the target (the C tool
        # skips it) and padding
        valid = candidates != targets[:, None]
        valid[:, 0] = True
        valid = (valid[:, None, :] if mask is None
                 else valid[:, None, :] & mask[:, :, None])
        if self._skip_beyond is not None:  # gensim's skip beyond +-6 (off by default)
            valid = valid & (score.abs() < self._skip_beyond)
        label = self._label.expand_as(score)  # 1 for the true word, 0 for noise words
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            score, label, valid, reduction="sum")
        # gradient of the log-likelihood, times the rate
        g = (label - torch.sigmoid(score)) * (valid * lr)
        # (n, 1 + k, d); with one input per example an outer product, faster
        # elementwise on a CPU
        grad_u = (g.transpose(1, 2) * h if h.shape[1] == 1
                  else torch.bmm(g.transpose(1, 2), h))
        self.w_out.index_add_(0, candidates.reshape(-1), grad_u.reshape(-1, h.shape[2]))
        return torch.bmm(g, u), loss

    def windows(self, ids: torch.Tensor, sentence: torch.Tensor,
                reach: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The corpus padded with ``window`` slots at each end, so that every window is a slice, and for
        each position which of its ``2 * window + 1`` slots hold a context word: same sentence, within the
        position's ``reach``. Computed once per epoch, for all positions at once; the step methods take it."""
        w = self.config.window
        if len(ids) == 0:  # subsampling kept no word (a corpus of a few words): no windows, no blocks
            return ids, torch.zeros(0, 2 * w + 1, dtype=torch.bool, device=ids.device)
        no_sentence = torch.full((w,), -1, dtype=sentence.dtype, device=sentence.device)  # never a context
        any_word = torch.zeros(w, dtype=ids.dtype, device=ids.device)
        sentence = torch.cat([no_sentence, sentence, no_sentence])
        context = ((sentence.unfold(0, 2 * w + 1, 1) == sentence[w:len(sentence) - w, None])
                   & (self._distance[None, :] <= reach[:, None]))
        return torch.cat([any_word, ids, any_word]), context

    def _block(self, ids: torch.Tensor, context: torch.Tensor,
               centres: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The windows of the centre positions ``centres`` (a slice, possibly strided) of a laid-out corpus:
        their words (B, 2w + 1), centre words (B,), context mask (B, 2w + 1) and context words, in order."""
        w = self.config.window
        words = ids.unfold(0, 2 * w + 1, 1)[centres]  # each centre's window, a view
        mask = context[centres]
        return words, ids[w:len(ids) - w][centres], mask, words[mask]

    def skipgram_step(self, ids: torch.Tensor, context: torch.Tensor, centres: slice,
                      lr: float) -> tuple[torch.Tensor | float, int]:
        """Skip-gram, word2vec.c's way: each context word's vector predicts the centre word, its own noise
        words per pair. Updates the block ``centres`` of a corpus laid out by `windows`; returns the summed
        loss and the number of examples (pairs)."""
        _, targets, mask, inputs = self._block(ids, context, centres)
        if len(inputs) == 0:
            return 0.0, 0
        count = mask.sum(dim=1)
        grad, loss = self.negative_sampling(self.w_in.index_select(0, inputs)[:, None],
                                            targets.repeat_interleave(count, output_size=len(inputs)), lr)
        self.w_in.index_add_(0, inputs, grad[:, 0])
        return loss, len(inputs)

    def skipgram_shared_step(self, ids: torch.Tensor, context: torch.Tensor, centres: slice,
                             lr: float) -> tuple[torch.Tensor | float, int]:
        """Skip-gram with one noise draw per window, shared by its context words (as `skipgram_step`)."""
        words, targets, mask, inputs = self._block(ids, context, centres)
        if len(inputs) == 0:
            return 0.0, 0
        grad, loss = self.negative_sampling(_gather(self.w_in, words), targets, lr, mask)
        self.w_in.index_add_(0, inputs, grad[mask])
        return loss, len(inputs)

    def cbow_step(self, ids: torch.Tensor, context: torch.Tensor, centres: slice,
                  lr: float) -> tuple[torch.Tensor | float, int]:
        """CBOW: the mean of the context vectors predicts the centre word, and the whole gradient goes to
        each context word, as in word2vec.c (as `skipgram_step`; examples are centres with a context)."""
        _, targets, mask, inputs = self._block(ids, context, centres)
        if len(inputs) == 0:
            return 0.0, 0
        count = mask.sum(dim=1)
        has_context = count > 0  # a centre without context words is no example (its mean below is 0)
        h = torch.nn.functional.embedding_bag(inputs, self.w_in, count.cumsum(0) - count, mode="mean")
        grad, loss = self.negative_sampling(h[:, None], targets, lr, has_context[:, None])
        self.w_in.index_add_(0, inputs, grad[:, 0].repeat_interleave(count, dim=0, output_size=len(inputs)))
        return loss, int(has_context.sum())

    @torch.no_grad()
    def train(self, ids: torch.Tensor, sentence: torch.Tensor, epochs: int | None = None,
              on_block: Callable[[float, "Word2Vec"], None] | None = None) -> History:
        """Train on a corpus given as flat word ids and the sentence number of each word.

        Returns a `History`, one row per epoch: mean loss per example, examples, words after
        subsampling. ``on_block(words_done, model)``, if given, is called after
        every block (the chapter uses it to record training curves; one worker only).
        """
        # once, before any block: ids index the vectors
        ids = check_ids("word ids", ids, len(self.vocab), error=UnknownIDError,
                        hint="Encode the corpus with the model's own vocab.encode.")
        sentence = check_ids("sentence numbers", sentence)
        if ids.ndim != 1 or ids.shape != sentence.shape:
            raise ShapeError("ids and sentence numbers must be 1-D (the corpus as one flat sequence) and of the same "
                             f"length; got {tuple(ids.shape)} and {tuple(sentence.shape)}.")
        if len(ids) == 0:
            raise EmptyInputError("the corpus is empty: nothing to train on.")
        if not bool((sentence[1:] == sentence[:-1]).any()):
            raise EmptyInputError("no sentence has two words: there is no (context, centre) pair to train on.")
        c = self.config
        if c.workers > 1 and (self.device.type != "cpu" or on_block is not None):
            raise ValueError("workers > 1 is for training on the CPU without on_block; use workers=1.")
        if c.graph and (c.workers > 1 or on_block is not None):
            raise ValueError("graph=True trains every block on the device, without on_block or workers > 1; "
                             "use graph=False for those.")
        epochs = c.epochs if epochs is None else epochs
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}; leave it out to use the config's {c.epochs}.")
        ids, sentence = ids.to(self.device), sentence.to(self.device)
        total, history, done = epochs * len(ids), History(), 0
        for epoch in range(epochs):
            kept = torch.rand(len(ids), generator=self.generator, device=self.device) < self._keep[ids]
            n_words = int(kept.sum())
            reach = torch.randint(1, c.window + 1, (n_words,), generator=self.generator, device=self.device)
            e_ids, context = self.windows(ids[kept], sentence[kept], reach)
            n_blocks = -(-n_words // self.block)

            def rate(j: int) -> float:  # falls linearly with the raw corpus words processed, as in word2vec.c
                return c.alpha * max(1 - (done + j / n_blocks * len(ids)) / total, c.min_alpha)

            def run(blocks: Iterable[int]) -> tuple[torch.Tensor, int]:
                loss_sum, examples = torch.zeros((), device=self.device, dtype=widest_float(self.device)), 0
                for j in blocks:  # block j: the positions j, j + n_blocks, j + 2 n_blocks, ...
                    loss, n = self.step(e_ids, context, slice(j, None, n_blocks), rate(j))
                    loss_sum, examples = loss_sum + loss, examples + n
                    if on_block is not None:
                        on_block(done + (j + 1) / n_blocks * len(ids), self)
                return loss_sum, examples

            desc = f"epoch {epoch + 1}/{epochs}"
            if c.graph and n_blocks > 0:
                blocks = FixedBlocks(self, e_ids, context, n_blocks)
                results = [blocks.run(rate, graph=self.device.type == "cuda", desc=desc)]
            else:
                results = hogwild(run, n_blocks, c.workers, desc=desc)
            done += len(ids)
            examples = int(sum(n for _, n in results))
            loss = float(sum(loss for loss, _ in results)) / max(examples, 1)
            if not (math.isfinite(loss) and bool(torch.isfinite(self.w_in).all() & torch.isfinite(self.w_out).all())):
                raise FloatingPointError(
                    f"Word2Vec diverged in epoch {epoch + 1} (loss {loss}): a block of {self.block} centres summed "
                    f"too many updates of frequent words; use a smaller block or alpha (now {c.alpha}).")
            history.append({"epoch": epoch + 1, "loss": loss, "examples": examples, "words": n_words})
        return history.finish(self.device)


def train_word2vec(sentences: list[list[str]], config: Word2VecConfig | None = None,
                   device: str | torch.device | None = None) -> tuple[Word2Vec, History]:
    """Build the vocabulary, encode the corpus and train: the one-call version."""
    config = config or Word2VecConfig()
    vocab = Vocabulary.build(sentences, config.min_count)
    ids, sentence = vocab.encode(sentences)
    model = Word2Vec(vocab, config, device)
    return model, model.train(ids, sentence)
