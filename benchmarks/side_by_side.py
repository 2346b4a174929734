"""Small fits side by side, one core each, against one after another on all cores: one run.

    python benchmarks/side_by_side.py              # 2 threads, as the book's chapters
    python benchmarks/side_by_side.py --threads 4

Chapters 3 and 10 train several small models with `embedkit.parallel.side_by_side`
(two at a time on 2 cores, one core each) instead of one after another with torch
using both cores for each. This script times both ways on the chapters' own runs,
shortened, and prints the ratio (sequential seconds / side-by-side seconds; above 1:
side by side is faster), and whether both ways gave the same vectors or weights:

- GloVe (chapter 3): two seeds, 50 dimensions, x_max 10, batches of 16,384, on the
  co-occurrence counts of the Wikipedia slice; ``--glove-epochs`` (default 5, the chapter 15);
- the language model (chapter 10): next-word and masked-word models, two seeds each, on
  the chapter's 18,000 windows, ``--lm-steps`` steps of 128 windows (default 60; the chapter 282).

Each way runs ``--repeats`` times (default 1) in alternation, sequential first; the
median of each is used. The machine's speed varies from run to run, so the ratio is the
measure, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial

os.environ.setdefault("EMBEDKIT_PROGRESS", "0")

import torch  # noqa: E402

from embedkit import parallel, train  # noqa: E402
from embedkit.bert import BertConfig  # noqa: E402
from embedkit.corpora import news_sentences, wikipedia_sentences  # noqa: E402
from embedkit.glove import GloVe, cooccurrence  # noqa: E402
from embedkit.mlm import MaskedLM, causal_lm_loss, mlm_loss, vocabulary_words, word_windows  # noqa: E402
from embedkit.vocab import Vocabulary  # noqa: E402


def glove_jobs(epochs: int):
    sentences = wikipedia_sentences()
    vocab = Vocabulary.build(sentences, min_count=5)
    counts = cooccurrence(*vocab.encode(sentences), len(vocab), window=10)

    def fit(seed: int) -> torch.Tensor:
        model = GloVe(len(vocab), dim=50, x_max=10, alpha=0.75, lr=0.05, seed=seed, device="cpu")
        model.train(counts, epochs=epochs, batch_size=16384)
        return model.vectors()

    return fit, [1, 2]


def lm_jobs(steps: int):
    sentences = wikipedia_sentences() + news_sentences()
    vocab = Vocabulary.build(sentences, min_count=5, max_size=2000)
    windows = word_windows(sentences, vocab, length=16)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(1))
    data = windows[order[:18_000]][: steps * 128]
    config = BertConfig(vocab_size=len(vocabulary_words(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=16)
    objectives = {"next word": causal_lm_loss, "masked words": mlm_loss}
    starts = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        starts[seed] = MaskedLM(config).state_dict()

    def fit(job: tuple[str, int]) -> torch.Tensor:
        name, seed = job
        model = MaskedLM(config)
        model.load_state_dict(starts[seed])
        loss_fn = partial(objectives[name], generator=torch.Generator().manual_seed(seed))
        train.fit(model, loss_fn, (data,), epochs=1, batch_size=128, lr=3e-3, cosine=True, seed=seed,
                  device="cpu")
        return model.encoder.word_embeddings.weight.detach()

    return fit, [(name, seed) for name in objectives for seed in (0, 1)]


def compare(label: str, fit, jobs, threads: int, repeats: int) -> None:
    ways = {"sequential": [], "side by side": []}
    for _ in range(repeats):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        sequential = [fit(job) for job in jobs]
        ways["sequential"].append(time.perf_counter() - start)
        start = time.perf_counter()
        side = parallel.side_by_side(fit, jobs, device="cpu", workers=threads)
        ways["side by side"].append(time.perf_counter() - start)
    seq, par = (statistics.median(ways[k]) for k in ways)
    same = all(torch.equal(a, b) for a, b in zip(sequential, side))
    print(f"{label:42s} {len(jobs)} fits  sequential {seq:6.1f} s  side by side {par:6.1f} s  "
          f"ratio {seq / par:4.2f}  same results: {'yes' if same else 'no'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="cores: threads of a sequential fit, workers side by side")
    parser.add_argument("--glove-epochs", type=int, default=5)
    parser.add_argument("--lm-steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.threads} threads one after another, against {args.threads} workers of one thread; "
          f"torch {torch.__version__}")
    compare(f"GloVe (ch. 3), {args.glove_epochs} epochs", *glove_jobs(args.glove_epochs), args.threads,
            args.repeats)
    compare(f"language models (ch. 10), {args.lm_steps} steps", *lm_jobs(args.lm_steps), args.threads,
            args.repeats)


if __name__ == "__main__":
    main()
