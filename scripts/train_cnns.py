"""Train the four CNNs of embedkit.cnn on Fashion-MNIST and write the weights that the CNN chapter loads.

    python scripts/train_cnns.py            # all models, into embedkit/pretrained/
    python scripts/train_cnns.py --check    # retrain and compare with the shipped files

For each architecture two models are trained, seeded and on the CPU so the
result is reproducible: one on all 10 classes ("all"), and one on the first
five classes only ("seen": T-shirt, trouser, pullover, dress, coat), for the
transfer experiment on the other five. 5,000 training images are held out for
early stopping. Weights are stored as float32 safetensors with the training
settings and measured seconds in the metadata; their sha256 sums go into
``embedkit/cnn.py`` (``PRETRAINED``), which prints them at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch

from embedkit import seed_everything, train
from embedkit.cnn import ARCHITECTURES, SEEN_CLASSES, classification_loss, weights_folder
from embedkit.images import fashion_mnist, to_float
from embedkit.weights import load_safetensors, save_safetensors

SETTINGS = {"epochs": 6, "batch_size": 128, "lr": 2e-3, "patience": 2, "validation": 5000, "seed": 0}


def train_one(name: str, classes: list[int], x: torch.Tensor, y: torch.Tensor) -> tuple[dict, dict]:
    keep = torch.isin(y, torch.tensor(classes))
    x, y = x[keep], y[keep]
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SETTINGS["seed"]))
    held_out = SETTINGS["validation"] * len(classes) // 10  # the same share of every training set
    val, fit_part = order[:held_out], order[held_out:]
    seed_everything(SETTINGS["seed"])
    model = ARCHITECTURES[name](classes=10)
    history = train.fit(model, classification_loss, (x[fit_part], y[fit_part]), val=(x[val], y[val]),
                        epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"], lr=SETTINGS["lr"],
                        patience=SETTINGS["patience"], seed=SETTINGS["seed"], device="cpu", desc=name)
    metadata = {"architecture": name, "classes": json.dumps(classes), "settings": json.dumps(SETTINGS),
                "train_seconds": f"{history.seconds:.1f}", "epochs_run": str(len(history.train)),
                "best_epoch": str(history.best_epoch), "train_loss": json.dumps(history.train),
                "val_loss": json.dumps(history.val)}
    return model.state_dict(), metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped weights instead of writing")
    parser.add_argument("--only", nargs="*", default=list(ARCHITECTURES))
    args = parser.parse_args()
    torch.set_num_threads(2)
    images, labels = fashion_mnist("train")
    x = to_float(images)
    folder = weights_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        for kind, classes in [("all", list(range(10))), ("seen", SEEN_CLASSES)]:
            start = time.perf_counter()
            state, metadata = train_one(name, classes, x, labels)
            path = folder / f"{name.lower()}-{kind}.safetensors"
            if args.check:
                shipped = load_safetensors(path)
                gap = max(float((shipped[k] - v.float()).abs().max()) for k, v in state.items() if v.is_floating_point())
                print(f"{path.name}: max |retrained - shipped| = {gap:.2e}")
            else:
                save_safetensors({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, path, metadata)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                print(f'    "{path.name}": "{digest}",  # {time.perf_counter() - start:.0f} s, '
                      f'{metadata["epochs_run"]} epochs')


if __name__ == "__main__":
    main()
