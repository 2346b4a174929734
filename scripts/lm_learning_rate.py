"""Choose chapter 10's language-model learning rate on validation windows (the chapter uses the result).

Trains the chapter's network (2 layers, 32 dimensions) with each of its three objectives at three learning
rates, three seeds each, on the chapter's 18,000 training windows with the chapter's budget (2 epochs of
batches of 128, cosine schedule; two models at a time, one core each, each drawing its masks from its own
generator, as the chapter trains them), and scores the loss on 2,000 validation windows that are neither trained
on nor among the 2,000 held-out windows the chapter reports. Prints the mean validation loss per objective
and rate, and the rate with the lowest mean for each objective. About 3 minutes on 2 CPU cores.

    .venv/bin/python scripts/lm_learning_rate.py
"""

from __future__ import annotations

import os
from functools import partial

os.environ.setdefault("EMBEDKIT_PROGRESS", "0")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from embedkit import parallel, train  # noqa: E402
from embedkit.bert import BertConfig  # noqa: E402
from embedkit.corpora import news_sentences, wikipedia_sentences  # noqa: E402
from embedkit.mlm import MaskedLM, causal_lm_loss, mlm_loss, vocabulary_words, word_windows  # noqa: E402
from embedkit.vocab import Vocabulary  # noqa: E402

RATES = (1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)


def main() -> None:
    torch.set_num_threads(2)
    sentences = wikipedia_sentences() + news_sentences()
    vocab = Vocabulary.build(sentences, min_count=5, max_size=2000)
    windows = word_windows(sentences, vocab, length=16)
    config = BertConfig(vocab_size=len(vocabulary_words(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=16)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(1))  # the chapter's order
    data, validation = windows[order[:18_000]], windows[order[18_000:20_000]]  # the chapter holds out order[-2000:]
    objectives = {"next word": causal_lm_loss, "masked words": mlm_loss,
                  "next word, 15% of positions": partial(causal_lm_loss, rate=0.15)}

    def initial(seed: int) -> MaskedLM:
        torch.manual_seed(seed)  # torch's global generator: here, not in the worker threads
        return MaskedLM(config)

    def trained(job: tuple[str, float, int, MaskedLM]) -> MaskedLM:
        """Train as the chapter does: on one core, drawing masks and picks from its own generator."""
        name, lr, seed, model = job
        draws = torch.Generator().manual_seed(seed)
        train.fit(model, partial(objectives[name], generator=draws), (data,), epochs=2, batch_size=128, lr=lr,
                  cosine=True, seed=seed, device="cpu")
        return model.eval()

    jobs = [(name, lr, seed, initial(seed)) for name in objectives for lr in RATES for seed in SEEDS]
    rows = []
    for (name, lr, seed, _), model in zip(jobs, parallel.side_by_side(trained, jobs, device="cpu")):
        torch.manual_seed(seed)
        rows.append(dict(objective=name, lr=lr, seed=seed,
                         loss=train.evaluate(model, objectives[name], (validation,))))
        print(f"{name}, lr {lr:g}, seed {seed}: validation loss {rows[-1]['loss']:.3f}", flush=True)
    table = pd.DataFrame(rows).groupby(["objective", "lr"], sort=False)["loss"].mean().unstack()
    print(table.round(3).to_string())
    print("lowest mean validation loss:", {name: float(table.loc[name].idxmin()) for name in objectives})


if __name__ == "__main__":
    main()
