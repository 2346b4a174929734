"""Word2Vec: skip-gram and CBOW with negative sampling (Mikolov et al. 2013a, 2013b), batched in torch.

Training follows the reference C tool (and gensim) step for step, but updates
a block of a few thousand positions at once instead of one word at a time:

- frequent words are dropped at random before each epoch (subsampling);
- each position draws its own window size, uniform in 1..``window`` (the
  "dynamic window" that weights near words more);
- skip-gram: every (context word -> centre word) pair in the window is one
  logistic-regression example; CBOW: the mean of the context vectors predicts
  the centre word, and its gradient is added to every context vector;
- ``negative`` noise words per example are drawn from unigram^0.75;
- plain SGD with a learning rate falling linearly from ``alpha`` to
  ``alpha * 1e-4`` over all epochs; input vectors start uniform in
  ``±0.5 / dim``, output vectors at zero.

Each block gathers its vectors, computes all gradients from the same
parameters, and scatters them back with ``index_add_`` (like several C threads
writing at once, "Hogwild"). No Python loop runs per word.

Left out: hierarchical softmax, phrases, and sub-word vectors (fastText).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .device import get_device
from .errors import EmptyInputError
from .progress import progress
from .table import EmbeddingTable
from .text import Vocabulary


@dataclass
class Word2VecConfig:
    """Hyperparameters, named as in gensim's ``Word2Vec`` (defaults are gensim's)."""

    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    min_count: int = 5
    epochs: int = 5
    sg: bool = True  # skip-gram; False means CBOW
    alpha: float | None = None  # None: 0.025 for skip-gram, 0.05 for CBOW (the C tool's defaults)
    min_alpha: float = 1e-4  # final rate, relative to alpha as in the C tool
    block: int | None = None  # positions updated at once (None: 512 skip-gram, 128 CBOW); larger is faster but can diverge
    seed: int = 0

    def __post_init__(self) -> None:
        if self.block is None:
            self.block = 512 if self.sg else 128
        for name in ("dim", "window", "epochs", "block", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.negative < 1:
            raise ValueError("negative must be at least 1: this implementation trains by negative sampling.")
        if self.alpha is None:
            self.alpha = 0.025 if self.sg else 0.05


class Word2Vec:
    """Input (word) vectors and output (context) vectors of a skip-gram or CBOW model."""

    def __init__(self, vocab: Vocabulary, config: Word2VecConfig | None = None,
                 device: str | torch.device | None = None) -> None:
        self.vocab, self.config = vocab, config or Word2VecConfig()
        self.device = get_device(device)
        c = self.config
        self.generator = torch.Generator(device=self.device).manual_seed(c.seed)
        v = len(vocab)
        self.w_in = ((torch.rand(v, c.dim, generator=self.generator, device=self.device) - 0.5) / c.dim)
        self.w_out = torch.zeros(v, c.dim, device=self.device)
        # a table of word ids in proportion to unigram^0.75, as word2vec.c's 1e8-entry table
        noise = vocab.noise_distribution()
        size = max(10 * v, 1_000_000)
        self._noise_table = torch.repeat_interleave(
            torch.arange(v), (noise * size).round().long().clamp_min(1)).to(self.device)
        self._keep = vocab.keep_probabilities(c.sample).float().to(self.device)

    def table(self) -> EmbeddingTable:
        """The trained input vectors as an `EmbeddingTable` (what gensim calls ``model.wv``)."""
        return EmbeddingTable(self.vocab.words, self.w_in, self.device)

    def _rand(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.device)

    def _negatives(self, shape: tuple[int, ...]) -> torch.Tensor:
        picks = torch.randint(len(self._noise_table), shape, generator=self.generator, device=self.device)
        return self._noise_table[picks]

    def _sgns_step(self, h: torch.Tensor, targets: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One negative-sampling update of the output vectors for hidden vectors ``h`` predicting ``targets``.

        Returns the gradient for ``h`` (already times the rate) and the summed loss (a tensor: reading
        it would make a GPU wait, so it is only read once per epoch).
        """
        k = self.config.negative
        candidates = torch.cat([targets[:, None], self._negatives((len(targets), k))], dim=1)  # (n, 1 + k)
        u = self.w_out[candidates]  # (n, 1 + k, d)
        score = torch.bmm(u, h[:, :, None]).squeeze(2)  # (n, 1 + k)
        # gradient of the log-likelihood: 1 - sigmoid for the true word, -sigmoid for noise words
        g = -torch.sigmoid(score)
        g[:, 0] += 1
        g[:, 1:] *= candidates[:, 1:] != targets[:, None]  # the C tool skips a noise word equal to the target
        loss = -(torch.log1p(-g[:, 0].clamp(max=1 - 1e-7)).sum() + torch.log1p(g[:, 1:].clamp(min=-1 + 1e-7)).sum())
        g *= lr
        grad_h = torch.bmm(g[:, None, :], u).squeeze(1)
        self.w_out.index_add_(0, candidates.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, h.shape[1]))
        return grad_h, loss

    def _block(self, ids: torch.Tensor, sentence: torch.Tensor, start: int, stop: int, reach: torch.Tensor,
               lr: float) -> tuple[torch.Tensor | float, int]:
        """Update for the centre positions ``start..stop-1``; returns summed loss and number of examples."""
        w = self.config.window
        centre = torch.arange(start, stop, device=self.device)
        offsets = torch.cat([torch.arange(-w, 0), torch.arange(1, w + 1)]).to(self.device)
        context = centre[:, None] + offsets[None, :]  # (B, 2w)
        inside = (context >= 0) & (context < len(ids))
        context = context.clamp(0, len(ids) - 1)
        mask = inside & (offsets.abs()[None, :] <= reach[centre][:, None]) & (sentence[context] == sentence[centre][:, None])
        if self.config.sg:
            rows, cols = mask.nonzero(as_tuple=True)
            if len(rows) == 0:
                return 0.0, 0
            inputs = ids[context[rows, cols]]  # word2vec.c: the context word's vector predicts the centre word
            grad, loss = self._sgns_step(self.w_in[inputs], ids[centre[rows]], lr)
            self.w_in.index_add_(0, inputs, grad)
            return loss, len(rows)
        count = mask.sum(dim=1)
        keep = count > 0
        centre, context, mask, count = centre[keep], context[keep], mask[keep], count[keep]
        if len(centre) == 0:
            return 0.0, 0
        words = ids[context]  # (B, 2w)
        h = (self.w_in[words] * mask[:, :, None]).sum(dim=1) / count[:, None]  # mean of the context vectors
        grad, loss = self._sgns_step(h, ids[centre], lr)
        rows, cols = mask.nonzero(as_tuple=True)
        self.w_in.index_add_(0, words[rows, cols], grad[rows])  # the whole gradient to every context word
        return loss, len(centre)

    @torch.no_grad()
    def train(self, ids: torch.Tensor, sentence: torch.Tensor, epochs: int | None = None,
              on_block=None) -> list[dict[str, float]]:
        """Train on a corpus given as flat word ids and the sentence number of each word.

        Returns one row per epoch: mean loss per example, examples, words after
        subsampling. ``on_block(words_done, model)``, if given, is called after
        every block (the chapter uses it to record training curves).
        """
        if len(ids) == 0:
            raise EmptyInputError("the corpus is empty: nothing to train on.")
        if ids.shape != sentence.shape:
            raise ValueError("ids and sentence numbers must have the same length.")
        c = self.config
        epochs = epochs or c.epochs
        ids, sentence = ids.to(self.device), sentence.to(self.device)
        total, history, done = epochs * len(ids), [], 0
        sum_dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
        for epoch in range(epochs):
            kept = self._rand(len(ids)) < self._keep[ids]
            e_ids, e_sentence = ids[kept], sentence[kept]
            reach = torch.randint(1, c.window + 1, (len(e_ids),), generator=self.generator, device=self.device)
            loss_sum = torch.zeros((), device=self.device, dtype=sum_dtype)
            examples = 0
            starts = range(0, len(e_ids), c.block)
            for start in progress(starts, total=len(starts), desc=f"epoch {epoch + 1}/{epochs}"):
                # learning rate decays linearly with the raw corpus words processed, as in word2vec.c
                progress_fraction = (done + start / len(e_ids) * len(ids)) / total
                lr = c.alpha * max(1 - progress_fraction, c.min_alpha)
                loss, n = self._block(e_ids, e_sentence, start, min(start + c.block, len(e_ids)), reach, lr)
                loss_sum, examples = loss_sum + loss, examples + n
                if on_block is not None:
                    on_block(done + (start + c.block) / len(e_ids) * len(ids), self)
            done += len(ids)
            history.append({"epoch": epoch + 1, "loss": float(loss_sum) / max(examples, 1), "examples": examples,
                            "words": len(e_ids)})
        return history


def train_word2vec(sentences: list[list[str]], config: Word2VecConfig | None = None,
                   device: str | torch.device | None = None) -> tuple[Word2Vec, list[dict[str, float]]]:
    """Build the vocabulary, encode the corpus and train: the one-call version."""
    config = config or Word2VecConfig()
    vocab = Vocabulary.build(sentences, config.min_count)
    ids, sentence = vocab.encode(sentences)
    model = Word2Vec(vocab, config, device)
    return model, model.train(ids, sentence)
