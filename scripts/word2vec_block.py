"""Trace chapter 2's skip-gram gap: four of the differences between our Word2Vec and gensim's, one at a time.

Chapter 2 finds our skip-gram ahead of gensim's on WordSim-353 and SimLex-999 in
every seed. The four differences it lists are tested here, on the chapter's
corpus and settings (100 dimensions, 5 epochs, window 5, 5 noise words):

- the block: ours updates a block of centre positions from the same parameters
  (256 by default on a CPU); gensim, like the C tool, one word at a time. Ours is
  trained with blocks of 4, 32 and 256 positions.
- the initial range: gensim starts its input vectors uniform in +-1/d, twice the
  C tool's range and ours. gensim is also trained with its starting vectors
  halved (after ``build_vocab``, before ``train``).
- the sigmoid table's edge: gensim skips a (word, context) term whose score lies
  beyond +-6; ours updates it. Ours is also trained skipping those terms.
- the rate's floor: gensim's rate decays to 1e-4, ours to 1e-4 times the
  starting rate. gensim is also trained with ours (``min_alpha`` = 2.5e-6).

Three seeds each, WordSim-353 and SimLex-999 (Spearman) over each table's whole
vocabulary, as the chapter scores them. Prints one line per run and a mean per
setting; chapter 2 reads the ``mean,`` lines from
``benchmarks/results/word2vec_block.txt``. About 8 minutes on 2 CPU cores (the
4-position blocks take most of it).

    .venv/bin/python scripts/word2vec_block.py | tee benchmarks/results/word2vec_block.txt
"""

from __future__ import annotations

import os

os.environ.setdefault("EMBEDKIT_PROGRESS", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gensim.models import Word2Vec as GensimWord2Vec  # noqa: E402

from embedkit import EmbeddingTable  # noqa: E402
from embedkit.corpora import wikipedia_sentences  # noqa: E402
from embedkit.evaluate import evaluate_word_pairs  # noqa: E402
from embedkit.vocab import Vocabulary  # noqa: E402
from embedkit.word2vec import Word2Vec, Word2VecConfig  # noqa: E402

SEEDS = (0, 1, 2)
ALPHA = 0.025  # the C tool's skip-gram rate, ours and the chapter's
# name -> (implementation, setting): ours with (block, skip beyond), gensim with (start scale, min_alpha)
RUNS = {
    "embedkit, block 4": ("embedkit", (4, None)),
    "embedkit, block 32": ("embedkit", (32, None)),
    "embedkit, block 256": ("embedkit", (256, None)),
    "embedkit, block 256, skip beyond 6": ("embedkit", (256, 6.0)),
    "gensim, start x 1.0": ("gensim", (1.0, 1e-4)),
    "gensim, start x 0.5": ("gensim", (0.5, 1e-4)),
    "gensim, floor 1e-4 x rate": ("gensim", (1.0, ALPHA * 1e-4)),
}


def scores(table: EmbeddingTable) -> tuple[float, float]:
    """WordSim-353 and SimLex-999 Spearman correlations."""
    return (evaluate_word_pairs(table, "wordsim353").spearman,
            evaluate_word_pairs(table, "simlex999").spearman)


def ours(sentences: list[list[str]], block: int, seed: int, skip_beyond: float | None = None) -> EmbeddingTable:
    """The chapter's skip-gram (chapter 2's vocabulary and settings) with ``block`` centre positions per update,
    skipping terms whose score lies beyond ``skip_beyond`` (as gensim does beyond 6) if given."""
    vocab = Vocabulary.build(sentences, min_count=5)
    model = Word2Vec(vocab, Word2VecConfig(dim=100, epochs=5, sg=True, seed=seed, block=block), "cpu")
    model._skip_beyond = skip_beyond
    model.train(*vocab.encode(sentences))
    return model.table()


def gensim(sentences: list[list[str]], scale: float, seed: int, min_alpha: float = 1e-4) -> EmbeddingTable:
    """gensim's skip-gram with the chapter's settings, its starting input vectors multiplied by ``scale`` and its
    rate decaying to ``min_alpha`` (gensim's default: 1e-4)."""
    g = GensimWord2Vec(vector_size=100, window=5, min_count=5, sg=1, negative=5, sample=1e-3, alpha=ALPHA,
                       min_alpha=min_alpha, epochs=5, workers=1, seed=seed)
    g.build_vocab(sentences)
    g.wv.vectors *= scale
    g.train(sentences, total_examples=g.corpus_count, epochs=g.epochs)
    return EmbeddingTable(g.wv.index_to_key, g.wv.vectors, device="cpu")


def train(sentences: list[list[str]], name: str, seed: int) -> EmbeddingTable:
    """The table of run ``name`` (a key of `RUNS`) with ``seed``."""
    implementation, (a, b) = RUNS[name]
    return ours(sentences, a, seed, b) if implementation == "embedkit" else gensim(sentences, a, seed, b)


def main() -> None:
    torch.set_num_threads(2)
    sentences = wikipedia_sentences()
    for name in RUNS:
        results = []
        for seed in SEEDS:
            results.append(scores(train(sentences, name, seed)))
            print(f"run, {name}, seed {seed}: WordSim-353 {results[-1][0]:.4f}, SimLex-999 {results[-1][1]:.4f}",
                  flush=True)
        ws, sl = np.array(results).T
        print(f"mean, {name}: WordSim-353 {ws.mean():.4f} ({ws.min():.4f} to {ws.max():.4f}), "
              f"SimLex-999 {sl.mean():.4f} ({sl.min():.4f} to {sl.max():.4f})", flush=True)


if __name__ == "__main__":
    main()
