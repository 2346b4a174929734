"""Word2Vec training speed and quality: embedkit against gensim, same corpus, same hyperparameters, one run.

    python benchmarks/word2vec_vs_gensim.py                # skip-gram, 5 epochs, on the best device
    python benchmarks/word2vec_vs_gensim.py --cbow --epochs 3 --device cpu

Prints words per second (raw corpus words times epochs, divided by training
time) for both, their ratio, and both quality scores (WordSim-353 Spearman,
Google analogy accuracy). gensim uses --workers threads on the CPU. The ratio,
not the absolute speed, is the result: both are measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import torch

from embedkit import EmbeddingTable, get_device
from embedkit.device import synchronize
from embedkit.evaluate import evaluate_analogies, evaluate_word_pairs
from embedkit.text import Vocabulary, wikipedia_sentences
from embedkit.word2vec import Word2Vec, Word2VecConfig


def quality(table: EmbeddingTable) -> tuple[float, float]:
    return evaluate_word_pairs(table, "wordsim353").spearman, evaluate_analogies(table).accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--block", type=int, default=None, help="positions per update (default: embedkit's)")
    parser.add_argument("--workers", type=int, default=2, help="gensim worker threads")
    parser.add_argument("--device", default=None, help="embedkit device (default: CUDA, MPS, else CPU)")
    args = parser.parse_args()

    from gensim.models import Word2Vec as GensimWord2Vec

    sentences = wikipedia_sentences()
    raw_words = sum(len(s) for s in sentences)
    config = Word2VecConfig(dim=args.dim, epochs=args.epochs, sg=not args.cbow, block=args.block)
    device = get_device(args.device)
    print(f"corpus: {raw_words:,} words; {'CBOW' if args.cbow else 'skip-gram'}, dim {args.dim}, "
          f"{args.epochs} epochs; embedkit on {device}, gensim with {args.workers} threads; "
          f"torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    vocab = Vocabulary.build(sentences, config.min_count)
    ids, sentence = vocab.encode(sentences)
    model = Word2Vec(vocab, config, device)
    model.train(ids, sentence)
    synchronize(device)
    ours_seconds = time.perf_counter() - start

    start = time.perf_counter()
    reference = GensimWord2Vec(sentences, vector_size=args.dim, window=config.window, min_count=config.min_count,
                               sg=int(config.sg), negative=config.negative, sample=config.sample,
                               epochs=args.epochs, workers=args.workers, seed=0)
    gensim_seconds = time.perf_counter() - start

    ours_rho, ours_acc = quality(model.table().to("cpu"))
    theirs_rho, theirs_acc = quality(EmbeddingTable(reference.wv.index_to_key, reference.wv.vectors, "cpu"))
    ours_speed, theirs_speed = raw_words * args.epochs / ours_seconds, raw_words * args.epochs / gensim_seconds
    print(f"{'':10s} {'seconds':>8s} {'words/s':>10s} {'WS-353 rho':>11s} {'analogies':>10s}")
    print(f"{'embedkit':10s} {ours_seconds:8.2f} {ours_speed:10,.0f} {ours_rho:11.3f} {ours_acc:10.2%}")
    print(f"{'gensim':10s} {gensim_seconds:8.2f} {theirs_speed:10,.0f} {theirs_rho:11.3f} {theirs_acc:10.2%}")
    print(f"speed ratio embedkit / gensim: {ours_speed / theirs_speed:.2f}x")


if __name__ == "__main__":
    main()
