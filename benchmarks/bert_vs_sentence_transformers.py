"""Sentence embeddings with all-MiniLM-L6-v2: embedkit against sentence-transformers, one run, same inputs.

    python benchmarks/bert_vs_sentence_transformers.py                 # the best device
    python benchmarks/bert_vs_sentence_transformers.py --device cpu --sentences 500

Both encode the same real sentences from the Wikipedia slice with the same
batch size, tokenisation included (ours is pure Python, theirs Rust). Prints
sentences per second of each (median of --repeats runs, default 3, after a
warm-up), the ratio, and the largest absolute difference between the two sets
of embeddings.
"""

from __future__ import annotations

import argparse

import torch

from embedkit import get_device
from embedkit.bert import SentenceEncoder
from embedkit.data import data_path
from embedkit.corpora import split_sentences, wikipedia_articles
from embedkit.timing import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    args = parser.parse_args()
    device = get_device(args.device)
    from sentence_transformers import SentenceTransformer

    sentences = [s for _, text in wikipedia_articles() for s in split_sentences(text)][: args.sentences]
    ours = SentenceEncoder.minilm(device=device)
    reference = SentenceTransformer(str(data_path("minilm-weights").parent), device=str(device))
    runs = {
        "sentence-transformers": lambda: reference.encode(sentences, batch_size=args.batch_size, convert_to_tensor=True),
        "embedkit": lambda: ours.embed(sentences, batch_size=args.batch_size),
    }
    seconds = {name: measure(fn, repeat=args.repeats, warmup=1, device=device) for name, fn in runs.items()}
    gap = float((ours.embed(sentences, batch_size=args.batch_size) - runs["sentence-transformers"]().cpu()).abs().max())
    print(f"{len(sentences)} Wikipedia sentences, batch {args.batch_size}, on {device}, torch threads {torch.get_num_threads()}")
    for name, s in seconds.items():
        print(f"{name:24s} {len(sentences) / s:9.1f} sentences/s")
    print(f"speed ratio embedkit / sentence-transformers: {seconds['sentence-transformers'] / seconds['embedkit']:.2f}x")
    print(f"max |difference| of the embeddings: {gap:.1e}")


if __name__ == "__main__":
    main()
