"""Sentence embeddings with all-MiniLM-L6-v2: embedkit against sentence-transformers, one run, same inputs.

    python benchmarks/bert_vs_sentence_transformers.py                 # the best device
    python benchmarks/bert_vs_sentence_transformers.py --device cpu --sentences 500
    python benchmarks/bert_vs_sentence_transformers.py --random-weights --precisions fp32,fp16,bf16

Both encode the same real sentences from the Wikipedia slice with the same
batch size, tokenisation included (ours is pure Python, theirs Rust). Prints
sentences per second of each (median of --repeats runs, default 3, after a
warm-up), the ratio, and the largest absolute difference between the two sets
of embeddings.

``--random-weights`` gives both the same random weights of MiniLM's shape
(Hugging Face's initialisation, seeded) instead of the real ones: the speed is
the same, and the agreement check still holds, where the real weights cannot
travel (the GPU machine). ``--precisions fp32,fp16,bf16`` also times both
under ``torch.autocast`` with each lower precision and prints, per precision,
the speeds, the ratio, the gap between the two and the gap to the float32
reference.

``--profile fp16`` (or fp32, bf16) runs no comparison: it times each side's
tokenisation alone, then one call of each under torch.profiler in that
precision, and prints where the time goes (CPU operations; on CUDA also the
kernels) and how often each waited for the device or copied to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import torch

from embedkit import get_device
from embedkit.device import synchronize
from embedkit.bert import BertConfig, BertEncoder, SentenceEncoder
from embedkit.data import data_path
from embedkit.corpora import split_sentences, wikipedia_articles
from embedkit.timing import measure
from embedkit.weights import load_safetensors
from embedkit.wordpiece import WordPieceTokenizer

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def random_minilm(device: torch.device, folder: Path, seed: int = 0):
    """Both encoders with the same random weights of all-MiniLM-L6-v2's shape (only its small files are read)."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig as HFBertConfig, BertModel

    config_file = data_path("minilm-config")
    for source in config_file.parent.rglob("*"):  # tokenizer, pooling and module files; not the weights
        if source.is_file() and source.suffix in (".json", ".txt"):
            target = folder / source.relative_to(config_file.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    torch.manual_seed(seed)
    BertModel(HFBertConfig.from_json_file(str(config_file)), add_pooling_layer=False).save_pretrained(folder)
    settings = json.loads(data_path("minilm-settings").read_text())
    encoder = BertEncoder(BertConfig.from_json(config_file)).load(load_safetensors(folder / "model.safetensors"))
    tokenizer = WordPieceTokenizer.from_vocab(data_path("minilm-vocab"), max_length=settings["max_seq_length"])
    ours = SentenceEncoder(encoder, tokenizer, normalize=True, device=device)
    return ours, SentenceTransformer(str(folder), device=str(device))


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (the median is printed)")
    parser.add_argument("--random-weights", action="store_true",
                        help="the same random weights of MiniLM's shape in both (where the real ones are missing)")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated, of fp32, fp16, bf16: also time both under torch.autocast")
    parser.add_argument("--profile", choices=sorted(PRECISIONS), default=None,
                        help="instead of the comparison: where each side's time goes in this precision")
    args = parser.parse_args()
    device = get_device(args.device)
    precisions = args.precisions.split(",") if args.precisions else []
    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        parser.error(f"unknown precision(s) {unknown}; choose from {sorted(PRECISIONS)}")
    from sentence_transformers import SentenceTransformer

    sentences = [s for _, text in wikipedia_articles() for s in split_sentences(text)][: args.sentences]
    folder = Path(tempfile.mkdtemp(prefix="minilm-random-"))
    try:
        if args.random_weights:
            ours, reference = random_minilm(device, folder)
        else:
            ours = SentenceEncoder.minilm(device=device)
            reference = SentenceTransformer(str(data_path("minilm-weights").parent), device=str(device))
        (profile if args.profile else run)(args, device, sentences, ours, reference, precisions)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(args, device, sentences, ours, reference, precisions) -> None:
    runs = {
        "sentence-transformers": lambda: reference.encode(sentences, batch_size=args.batch_size, convert_to_tensor=True),
        "embedkit": lambda: ours.embed(sentences, batch_size=args.batch_size),
    }
    seconds = {name: measure(fn, repeat=args.repeats, warmup=1, device=device) for name, fn in runs.items()}
    embedded = ours.embed(sentences, batch_size=args.batch_size).cpu()
    gap = float((embedded - runs["sentence-transformers"]().cpu()).abs().max())
    print(f"{len(sentences)} Wikipedia sentences, batch {args.batch_size}, on {device}, torch threads {torch.get_num_threads()}")
    for name, s in seconds.items():
        print(f"{name:24s} {len(sentences) / s:9.1f} sentences/s")
    print(f"speed ratio embedkit / sentence-transformers: {seconds['sentence-transformers'] / seconds['embedkit']:.2f}x")
    print(f"max |difference| of the embeddings: {gap:.1e}")
    if args.random_weights:
        print("weights: random, of all-MiniLM-L6-v2's shape (the same in both)")
    if not precisions:
        return
    exact = runs["sentence-transformers"]().float().cpu()
    print(f"{'precision':9s} {'sentence-transformers':>22s} {'embedkit':>10s} {'ratio':>7s} "
          f"{'max |ours - theirs|':>20s} {'max |ours - fp32|':>18s}   (sentences/s)")
    for precision in precisions:
        def timed(fn):
            def go():
                with autocast(device, precision):
                    return fn()
            return go
        speed = {name: len(sentences) / measure(timed(fn), repeat=args.repeats, warmup=1, device=device)
                 for name, fn in runs.items()}
        with autocast(device, precision):
            got, theirs = runs["embedkit"]().float().cpu(), runs["sentence-transformers"]().float().cpu()
        print(f"{precision:9s} {speed['sentence-transformers']:22.1f} {speed['embedkit']:10.1f} "
              f"{speed['embedkit'] / speed['sentence-transformers']:6.2f}x {float((got - theirs).abs().max()):20.1e} "
              f"{float((got - exact).abs().max()):18.1e}")


WAITS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpyAsync", "aten::_local_scalar_dense",
         "aten::copy_", "aten::item")


def profile(args, device, sentences, ours, reference, precisions) -> None:
    """Tokenisation alone, then one call of each under torch.profiler: the operations that took the most time and
    the count of waits for the device and copies (the suspects of a launch-bound GPU run)."""
    import time

    from torch.profiler import ProfilerActivity, profile as torch_profile

    tokenize = {"sentence-transformers": lambda: reference.tokenize(sentences),
                "embedkit": lambda: [ours.tokenizer.encode(t) for t in sentences]}
    for name, fn in tokenize.items():
        print(f"{name:24s} tokenisation alone: {measure(fn, repeat=args.repeats, warmup=1, device=device):.4f} s")
    cuda = device.type == "cuda"
    runs = {"sentence-transformers": lambda: reference.encode(sentences, batch_size=args.batch_size,
                                                                convert_to_tensor=True),
            "embedkit": lambda: ours.embed(sentences, batch_size=args.batch_size)}
    for name, fn in runs.items():
        with autocast(device, args.profile):
            fn()  # warm-up
            synchronize(device)
            with torch_profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
                start = time.perf_counter()
                fn()
                synchronize(device)
                seconds = time.perf_counter() - start
        events = prof.key_averages()
        counts = {e.key: e.count for e in events if e.key in WAITS}
        print(f"\n{name}: {len(sentences)} sentences, batch {args.batch_size}, {args.profile}, {seconds:.3f} s under "
              f"the profiler; calls: " + ", ".join(f"{k} {counts.get(k, 0)}" for k in WAITS))
        print(events.table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40))
        if cuda:
            print(events.table(sort_by="self_device_time_total", row_limit=12, max_name_column_width=40))


if __name__ == "__main__":
    main()
